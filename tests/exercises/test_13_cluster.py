"""Lesson 13 (a cluster): the cluster the lesson starts, and its exercise's check against wrong
answers, on three real nodes (started once for this file: about 30 s)."""

import pika
import pytest

from helpers import checks
from helpers.amqp import connect
from helpers.ops.cluster import Cluster
from exercise_support import said, verdict


@pytest.fixture(scope="module")
def cluster():
    made = Cluster()
    made.start()
    yield made
    made.stop()
    assert not [node.node_name for node in made.nodes if node.is_running()], "a cluster node still runs"


def declare(cluster, arguments=None, names=None):
    with pika.BlockingConnection(cluster.parameters(names)) as connection:
        channel = connection.channel()
        channel.queue_delete("payments")
        if arguments is not False:
            channel.queue_declare("payments", durable=True, arguments=arguments)


def test_the_cluster_has_three_running_nodes_that_share_queues(cluster):
    assert cluster.running() == sorted(cluster.node_names)
    first, second, third = cluster.node_names
    with pika.BlockingConnection(cluster.parameters([first])) as connection:
        connection.channel().queue_declare("shared", durable=True, arguments={"x-queue-type": "quorum"})
    with pika.BlockingConnection(cluster.parameters([third])) as connection:  # seen from another node
        assert connection.channel().queue_declare("shared", passive=True).method.queue == "shared"
        connection.channel().queue_delete("shared")


def test_a_client_given_every_node_connects_to_one_alive(cluster):
    first = cluster.node_names[0]
    cluster.kill(first)
    try:
        with pika.BlockingConnection(cluster.parameters()) as connection:
            port = connection._impl.params.port
        assert cluster.node_of_port(port) != first
    finally:
        cluster.start_node(first)
    assert cluster.running() == sorted(cluster.node_names)  # it rejoined


@pytest.mark.parametrize("arguments", [
    False,  # left empty: nothing declared
    None,  # a classic queue: on one node only
    {"x-queue-type": "stream"},  # replicated, but every reader gets every message
    {"x-queue-type": "quorum", "x-quorum-initial-group-size": 1},  # a quorum queue on one node
    {"x-queue-type": "quorum", "x-quorum-initial-group-size": 2},  # two of three: a lost member is not replaced
], ids=["left_empty", "classic", "stream", "quorum_on_one_node", "quorum_on_two_nodes"])
def test_13_exercise_1_wrong_answers(capsys, cluster, arguments):
    declare(cluster, arguments)
    checks.check_survives_node_loss(cluster, "payments")
    assert verdict(capsys) == "❌"


def test_13_exercise_1_a_queue_on_the_course_broker_is_not_on_the_cluster(capsys, cluster):
    declare(cluster, False)
    with connect(name="pytest-exercises") as connection:
        connection.channel().queue_declare("payments", durable=True, arguments={"x-queue-type": "quorum"})
        try:
            checks.check_survives_node_loss(cluster, "payments")
            assert "no queue 'payments'" in said(capsys)
        finally:
            connection.channel().queue_delete("payments")


def test_13_exercise_1_messages_left_from_before(capsys, cluster):
    declare(cluster, {"x-queue-type": "quorum"})
    with pika.BlockingConnection(cluster.parameters()) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", "payments", b"left over")
    checks.check_survives_node_loss(cluster, "payments")
    assert "already" in said(capsys)


def test_13_exercise_1_right_answer_after_a_wrong_one(capsys, cluster):
    declare(cluster, None)
    checks.check_survives_node_loss(cluster, "payments")
    assert verdict(capsys) == "❌"
    declare(cluster, {"x-queue-type": "quorum", "x-delivery-limit": 5})
    checks.check_survives_node_loss(cluster, "payments")
    line = said(capsys)
    assert line.startswith("✅") and "all 10 confirmed messages" in line, line
    assert cluster.running() == sorted(cluster.node_names)  # the check started the node it killed again
