"""Checks for lesson 13: a queue that survives the loss of a node.

``check_survives_node_loss`` reads the queue from the cluster's management API (type, members,
which are online), then proves it: it publishes numbered messages with confirms, kills the node
that leads the queue, counts the messages from another node once a new leader is elected, and
starts the node again. Prints one ✅/❌ line (see ``helpers.checks.report``).
"""

import json
import uuid

import pika

from ..errors import CourseError
from ..lab.cluster_drill import leader_of, time_without_leader
from ..waiting import poll
from .report import check, report

__all__ = ["check_survives_node_loss"]


def _published(cluster, queue, count):
    """Publish ``count`` numbered persistent messages to ``queue`` with confirms; their ids."""
    ids = [f"check-{uuid.uuid4().hex[:6]}-{number}" for number in range(count)]
    with pika.BlockingConnection(cluster.parameters()) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for message_id in ids:
            channel.basic_publish("", queue, json.dumps({"id": message_id}).encode(),
                                  pika.BasicProperties(delivery_mode=2), mandatory=True)
    return ids


def _message_count(cluster, queue, avoid=None):
    """The queue's messages as the broker counts them now (a passive declare), through any node
    but ``avoid``."""
    others = [name for name in cluster.node_names if name != avoid]
    with pika.BlockingConnection(cluster.parameters(others)) as connection:
        return connection.channel().queue_declare(queue, passive=True).method.message_count


@check
def check_survives_node_loss(cluster, queue, count=10):
    """Lesson 13, exercise 1: is ``queue`` on ``cluster`` a quorum queue with a member on every
    node, and are its messages all still there, readable through another node, once the node
    that leads it is killed?"""
    if not hasattr(cluster, "node_names"):
        return report(False, "", "Pass the lesson's cluster: check_survives_node_loss(cluster, 'payments').")
    api = cluster.api()
    try:
        found = api.queue(queue)
    except CourseError:
        return report(False, "", f"The cluster has no queue '{queue}': declare it on a connection to the cluster "
                                 "(pika.BlockingConnection(cluster.parameters())), not to the course's broker.")
    kind = found.get("type")
    if kind == "classic":
        return report(False, "", f"'{queue}' is a classic queue: it lives on one node ({found.get('node')}) and is gone while "
                                 "that node is. Run the exercise's first cell again and declare it with "
                                 "arguments={'x-queue-type': 'quorum', ...}.")
    if kind == "stream":
        return report(False, "", f"'{queue}' is a stream: replicated, but every reader gets every message. Payments are each "
                                 "handled once: run the exercise's first cell again and declare a quorum queue.")
    members = sorted(found.get("members") or [])
    if members != sorted(cluster.node_names):
        return report(False, "", f"'{queue}' has {len(members)} member(s), {', '.join(members)}, not one on each of the "
                                 f"{len(cluster.node_names)} nodes: leave out x-quorum-initial-group-size (or set it to "
                                 f"{len(cluster.node_names)}), run the first cell again and declare it again.")
    already = _message_count(cluster, queue)
    if already:
        return report(False, "", f"'{queue}' holds {already} message(s) already: run the exercise's first cell "
                                 "again, declare the queue, then run this check (it publishes its own).")
    leader = poll(lambda: leader_of(api, queue), 15, interval=0.2)
    if not leader:
        return report(False, "", f"'{queue}' has no leader: run the exercise's first cell again.")
    ids = _published(cluster, queue, count)
    cluster.kill(leader)
    try:
        seconds, new_leader = time_without_leader(cluster.api(), queue, leader)
        left = _message_count(cluster, queue, avoid=leader)
    finally:
        cluster.start_node(leader)
    with pika.BlockingConnection(cluster.parameters()) as connection:
        connection.channel().queue_purge(queue)
    if left != len(ids):
        return report(False, "", f"After its leader {leader} was killed, '{queue}' held {left} of the {len(ids)} "
                                 "confirmed messages.")
    report(True, f"'{queue}' is a quorum queue on all {len(members)} nodes: its leader was killed, {new_leader} led it "
                 f"{seconds:.1f} s later, and all {len(ids)} confirmed messages were there.", "")
