"""The picture of the broker (helpers.lab.topology) against a real broker: what it reads (nodes,
edges, binding keys, dead letters, consumers), the rates it finds once messages flow, that a
removed binding leaves the picture, and the drawing's labels."""

import os
import subprocess
import sys
import time
import uuid

import matplotlib
import matplotlib.pyplot as plt
import pytest

from helpers.amqp import connect
from helpers.lab.topology import LiveTopology, draw_topology, edge_label, read_topology
from helpers.waiting import wait_until

matplotlib.use("Agg")


@pytest.fixture
def names():
    """Names for one test's exchanges and queues, all deleted afterwards."""
    prefix = f"topo-{uuid.uuid4().hex[:6]}"
    made = {kind: f"{prefix}-{kind}" for kind in ("orders", "dlx", "billing", "audit", "dead", "wait", "unrouted", "catch")}
    yield made
    with connect(name="pytest-cleanup") as connection:
        channel = connection.channel()
        for name in made.values():
            channel.queue_delete(name)
            channel.exchange_delete(name)


@pytest.fixture
def topology(channel, names):
    """A topic exchange with two queues (one with two keys), a dead-letter exchange and queue, an
    alternate exchange, a TTL queue that dead-letters through the default exchange, one consumer."""
    n = names
    channel.exchange_declare(n["catch"], "fanout", durable=True)
    channel.exchange_declare(n["orders"], "topic", durable=True, arguments={"alternate-exchange": n["catch"]})
    channel.exchange_declare(n["dlx"], "fanout", durable=True)
    for queue in ("dead", "audit", "unrouted"):
        channel.queue_declare(n[queue], durable=True)
    channel.queue_declare(n["billing"], durable=True, arguments={"x-dead-letter-exchange": n["dlx"]})
    channel.queue_declare(n["wait"], durable=True, arguments={"x-message-ttl": 60000, "x-dead-letter-exchange": "",
                                                              "x-dead-letter-routing-key": n["billing"]})
    channel.queue_bind(n["billing"], n["orders"], "orders.*")
    channel.queue_bind(n["audit"], n["orders"], "orders.#")
    channel.queue_bind(n["audit"], n["orders"], "refunds.#")
    channel.queue_bind(n["dead"], n["dlx"])
    channel.queue_bind(n["unrouted"], n["catch"])
    return n


def node(kind, name):
    return (kind, name)


def test_reads_exchanges_bindings_queues_and_dead_letters(topology, api):
    n = topology
    graph = read_topology(api, include=set(n.values()))
    assert {name for kind, name in graph if kind == "exchange"} == {n["orders"], n["dlx"], n["catch"]}
    assert {name for kind, name in graph if kind == "queue"} == {n[q] for q in ("billing", "audit", "dead", "wait", "unrouted")}
    edges = {(source[1], target[1]): data for source, target, data in graph.edges(data=True)}
    assert edges[n["orders"], n["billing"]]["keys"] == ["orders.*"]
    assert edges[n["orders"], n["audit"]]["keys"] == ["orders.#", "refunds.#"]   # one edge, both keys
    assert edges[n["dlx"], n["dead"]]["keys"] == [""]                            # a fanout ignores keys
    assert edges[n["billing"], n["dlx"]]["kind"] == "dead letters"
    assert edges[n["wait"], n["billing"]]["kind"] == "dead letters"              # through the default exchange
    assert edges[n["orders"], n["catch"]]["kind"] == "alternate exchange"
    assert graph.nodes[node("exchange", n["orders"])]["type"] == "topic"
    assert not [other for other in graph if other[1] == "" or other[1].startswith("amq.")]
    assert len(graph.edges) == 7


def test_leaves_out_the_default_exchange_and_unused_amq_exchanges(topology, api):
    graph = read_topology(api)
    assert ("exchange", "") not in graph and ("exchange", "amq.topic") not in graph
    assert ("queue", topology["billing"]) in graph


def test_a_dead_letter_exchange_from_a_policy(channel, api, names):
    policy = f"{names['billing']}-policy"
    channel.exchange_declare(names["dlx"], "fanout", durable=True)
    channel.queue_declare(names["billing"], durable=True)
    api.put(api.vhost_path("policies", policy), {"pattern": f"^{names['billing']}$", "apply-to": "queues",
                                                 "definition": {"dead-letter-exchange": names["dlx"]}})
    try:
        api.wait_for_queue(names["billing"], policy=policy)
        graph = read_topology(api, include=set(names.values()))
        assert graph.edges[("queue", names["billing"]), ("exchange", names["dlx"])]["kind"] == "dead letters"
    finally:
        api.delete(api.vhost_path("policies", policy))


def test_a_removed_binding_leaves_the_picture(topology, channel, api):
    n = topology
    before = read_topology(api, include=set(n.values()))
    assert before.has_edge(("exchange", n["orders"]), ("queue", n["billing"]))
    channel.queue_unbind(n["billing"], n["orders"], "orders.*")
    channel.queue_unbind(n["audit"], n["orders"], "refunds.#")
    after = read_topology(api, include=set(n.values()))
    assert not after.has_edge(("exchange", n["orders"]), ("queue", n["billing"]))
    assert after.edges[("exchange", n["orders"]), ("queue", n["audit"])]["keys"] == ["orders.#"]
    assert ("queue", n["billing"]) in after   # the queue stays, unbound


def test_consumers_are_named_by_their_connection_and_rates_appear(topology, api):
    n = topology
    with connect(name="billing-worker") as consuming, connect(name="pytest-publisher") as publishing:
        consumer = consuming.channel()
        consumer.basic_consume(n["billing"], lambda ch, method, props, body: ch.basic_ack(method.delivery_tag))
        publisher = publishing.channel()

        def flowing():
            for _ in range(10):
                publisher.basic_publish(n["orders"], "orders.created", b"{}")
            publishing.process_data_events(0)
            consuming.process_data_events(0.05)
            graph = read_topology(api, include=set(n.values()))
            consumers = [other for other in graph if other[0] == "consumer"]
            if not consumers:
                return None
            incoming = graph.edges[("exchange", n["orders"]), ("queue", n["billing"])]["rate"]
            delivered = graph.edges[("queue", n["billing"]), consumers[0]]["rate"]
            return graph if incoming and delivered else None

        graph = wait_until(flowing, "the rates of the billing edges to exceed 0", timeout=20, interval=0.1)
    consumers = [data for other, data in graph.nodes(data=True) if data["kind"] == "consumer"]
    assert [(data["label"], data["queue"]) for data in consumers] == [("billing-worker", n["billing"])]
    into_billing = graph.edges[("exchange", n["orders"]), ("queue", n["billing"])]
    assert into_billing["rate"] > 0 and not into_billing["bound"]   # the only way into billing
    assert into_billing["label"].startswith("orders.* · ") and into_billing["label"].endswith("/s")
    assert graph.edges[("queue", n["billing"]), ("exchange", n["dlx"])]["rate"] is None   # the API does not count it
    assert graph.edges[("exchange", n["dlx"]), ("queue", n["dead"])]["rate"] is None      # nor what arrives from it


def test_edge_labels():
    assert edge_label({"keys": ["orders.*"], "rate": 12.3, "bound": False}) == "orders.* · 12/s"
    assert edge_label({"keys": ["orders.*"], "rate": 0.44, "bound": True}) == "orders.* · ≤ 0.4/s"
    assert edge_label({"keys": [""], "rate": 3.0, "bound": False}) == "3/s"
    assert edge_label({"keys": ["dead letters"], "rate": None}) == "dead letters"
    assert edge_label({"keys": ["sensor.*.temperature"], "rate": 5}) == "sensor.*.temperature\n5/s"


def test_draws_every_node_and_edge_label(topology, api, tmp_path):
    n = topology
    graph = read_topology(api, include=set(n.values()))
    ax = draw_topology(graph, title="A test topology")
    texts = [text.get_text() for text in ax.texts]
    for kind, name in graph:
        assert any(text.startswith(name) for text in texts), name
    assert "orders.* · 0/s" in texts and "dead letters" in texts and "unroutable · 0/s" in texts
    assert sum(1 for child in ax.get_children() if type(child).__name__ == "Annotation") == len(graph.edges)
    assert {text.get_text() for text in ax.get_legend().get_texts()} >= {"exchange (type)", "queue (messages in it)",
                                                                         "binding", "dead letters"}
    assert ax.get_title() == "A test topology"
    ax.figure.savefig(tmp_path / "topology.png")
    assert (tmp_path / "topology.png").stat().st_size > 10_000
    plt.close(ax.figure)


def test_live_topology_is_bounded(topology):
    started = time.monotonic()
    live = LiveTopology(include=set(topology.values()), interval=0.3)
    graph = live.run(seconds=5.0)
    assert time.monotonic() - started < 30
    assert live.redraws >= 1 and ("queue", topology["billing"]) in graph


def test_dashboard_command_draws_the_topology_headless(topology, tmp_path):
    png = tmp_path / "topology.png"
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "helpers.lab.dashboard", "--seconds", "1", "--topology",
                             "--png", str(png)], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert topology["billing"] in result.stdout and png.stat().st_size > 10_000
