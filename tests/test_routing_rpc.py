"""helpers.lab.routing (lesson 07) and helpers.lab.rpc (lesson 08) against the real broker, and their checks."""

import json
import time
import uuid

import pika
import pytest

from helpers.amqp import connect
from helpers.errors import CourseError
from helpers.lab.routing import (RETURNED, binding_table, declare_routing, route_table, routes, wait_for_exchange)
from helpers.lab.rpc import RpcClient, RpcServer, RpcTimeout, consumer_table, quote
from limits import NEVER_HANGS


@pytest.fixture
def names():
    """A function that makes unique queue/exchange names; everything made is deleted afterwards."""
    made = []
    suffix = uuid.uuid4().hex[:6]

    def name(base):
        made.append(f"test-{base}-{suffix}")
        return made[-1]

    yield name
    with connect(name="pytest-cleanup") as connection:
        channel = connection.channel()
        for thing in made:
            channel.queue_delete(thing)
            channel.exchange_delete(thing)


@pytest.fixture
def connection():
    with connect(name="pytest-rpc") as connection:
        yield connection


# -- routing (lesson 07) ---------------------------------------------------------------------

def test_route_table_shows_what_the_broker_routed(channel, names):
    exchange, paris, temperatures = names("telemetry"), names("paris"), names("temperatures")
    declare_routing(channel, exchange, "topic", [(paris, "sensor.paris.*"), (temperatures, "sensor.*.temperature")])
    table = route_table(channel, exchange, ["sensor.paris.temperature", "sensor.lyon.temperature",
                                            "sensor.paris.humidity", "sensor.lyon.door.open"], [paris, temperatures])
    assert routes(table) == {
        "sensor.paris.temperature": {paris, temperatures},
        "sensor.lyon.temperature": {temperatures},
        "sensor.paris.humidity": {paris},
        "sensor.lyon.door.open": {RETURNED},
    }
    depths = table.loc["depth (management API)"]
    assert (depths[paris], depths[temperatures]) == (2, 2)
    # the queues were emptied, so the same experiment can run again with the same result
    assert routes(route_table(channel, exchange, ["sensor.paris.humidity"], [paris, temperatures])) == {
        "sensor.paris.humidity": {paris}}


def test_route_table_headers_and_repeated_messages(channel, names):
    exchange, pdf, printing = names("documents"), names("pdf"), names("printing")
    declare_routing(channel, exchange, "headers", [
        (pdf, {"x-match": "all", "format": "pdf", "type": "report"}),
        (printing, {"x-match": "any", "format": "pdf", "print": "yes"}),
    ])
    table = route_table(channel, exchange, [{"format": "pdf", "type": "report"}, {"format": "csv", "type": "report"},
                                            {"format": "csv", "type": "report"}], [pdf, printing])
    assert routes(table) == {
        "format=pdf, type=report": {pdf, printing},
        "format=csv, type=report": {RETURNED},
        "format=csv, type=report (#2)": {RETURNED},
    }
    arguments = set(binding_table([exchange]).arguments)
    assert arguments == {"format=pdf, type=report, x-match=all", "format=pdf, print=yes, x-match=any"}


def test_alternate_exchange_catches_what_no_binding_takes(channel, names):
    exchange, ae, errors, unrouted = names("app-logs"), names("unrouted-logs"), names("errors"), names("unrouted")
    declare_routing(channel, ae, "fanout", [(unrouted, "")])
    declare_routing(channel, exchange, "direct", [(errors, "error")], arguments={"alternate-exchange": ae})
    table = route_table(channel, exchange, ["error", "debug"], [errors, unrouted])
    assert routes(table) == {"error": {errors}, "debug": {unrouted}}


def test_a_dropped_message_counts_in_but_not_out(channel, names, api):
    exchange, queue = names("logs"), names("log-all")
    declare_routing(channel, exchange, "direct", [(queue, "info")])
    channel.confirm_delivery()
    channel.basic_publish(exchange, "info", b"kept")
    channel.basic_publish(exchange, "debug", b"dropped")  # confirmed, yet routed nowhere
    # Both counts are waited for: the statistics of one publish may arrive a moment apart.
    assert wait_for_exchange(exchange, api=api, publish_in=2, publish_out=1) == {"publish_in": 2, "publish_out": 1}
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(exchange, "debug", b"returned", mandatory=True)


def test_route_table_refuses_a_queue_that_was_not_empty(channel, names):
    exchange, queue = names("logs"), names("log-all")
    declare_routing(channel, exchange, "direct", [(queue, "info")])
    channel.basic_publish("", queue, b"left over")
    with pytest.raises(CourseError, match="was not empty"):
        route_table(channel, exchange, ["info"], [queue])


# -- request/reply (lesson 08) ---------------------------------------------------------------

def test_quote():
    assert quote({"item": "poster", "quantity": 2})["total"] == 24.0
    assert quote({"item": "photo-print", "quantity": 10})["total"] == 3.6  # 10 % off from ten
    assert "error" in quote({"item": "canvas"})
    assert "error" in quote({"item": "poster", "quantity": 0})


@pytest.mark.parametrize("direct", [False, True], ids=["callback-queue", "direct-reply-to"])
def test_client_gets_its_answer_from_a_running_server(connection, names, direct, api):
    queue = names("rpc")
    with RpcServer(queue) as server, RpcClient(connection, queue, direct_reply_to=direct) as client:
        assert client.call({"item": "frame", "quantity": 2}, timeout=10)["total"] == 50.0
        assert client.call({"item": "canvas"}, timeout=10) == {"item": "canvas", "error": "unknown item 'canvas'"}
        assert client.ignored == []
        consumers = consumer_table([queue], api=api, count=1)
        assert list(consumers.connection) == ["pricing-server"] and list(consumers.prefetch_count) == [1]
    assert server.requests_answered() == 2
    assert server.events().iloc[-1]["reason"] == "SIGTERM"


def test_client_times_out_within_its_limit_when_no_server_runs(connection, channel, names, api):
    queue = names("rpc")
    channel.queue_declare(queue, durable=True)
    with RpcClient(connection, queue) as client:
        started = time.monotonic()
        with pytest.raises(RpcTimeout, match=f"No reply to call 1 within 1 s.*'{queue}'"):
            client.call({"item": "poster"}, timeout=1)
        assert time.monotonic() - started < NEVER_HANGS
    # the request carried the timeout as its expiration: it does not linger in the queue
    assert api.wait_for_queue(queue, messages=0)["messages"] == 0


def test_a_request_to_a_missing_queue_fails_at_once(connection, names):
    with RpcClient(connection, names("no-such-queue")) as client:
        # At once: the broker returns the request (mandatory), so the call does not wait for its
        # 10 s and end in an RpcTimeout, whose message would not match.
        with pytest.raises(CourseError, match="No queue named"):
            client.call({"item": "poster"}, timeout=10)


def test_a_reply_with_a_wrong_correlation_id_is_ignored(connection, channel, names):
    queue = names("rpc")
    channel.queue_declare(queue, durable=True)
    with RpcClient(connection, queue) as client:
        channel.confirm_delivery()
        channel.basic_publish("", client.reply_to, json.dumps({"total": 0.01}).encode(),
                              properties=pika.BasicProperties(correlation_id="not-a-call-of-this-client"))
        with pytest.raises(RpcTimeout):  # no server: the stray reply must not be taken as the answer
            client.call({"item": "poster"}, timeout=1)
        assert client.ignored == [{"call": None, "reason": "unknown correlation id"}]


def test_duplicate_and_late_replies_are_ignored(connection, names):
    queue = names("rpc")
    with RpcServer(queue, mode="twice"), RpcClient(connection, queue, direct_reply_to=True) as client:
        answers = [client.call({"item": "frame", "quantity": quantity}, timeout=10) for quantity in (1, 2)]
        assert client.wait_for_ignored(2, timeout=10) == 2
    assert [answer["quantity"] for answer in answers] == [1, 2]
    assert list(client.ignored_table().reason) == ["duplicate: already answered"] * 2
    with RpcServer(queue, mode="slow", delay=1.0), RpcClient(connection, queue) as client:
        with pytest.raises(RpcTimeout):
            client.call({"item": "poster", "quantity": 1}, timeout=0.3)
        assert client.call({"item": "poster", "quantity": 5}, timeout=10)["quantity"] == 5
    assert client.ignored == [{"call": 1, "reason": "late: the client had given up"}]


def test_server_stops_by_itself_when_idle(names):
    server = RpcServer(names("rpc"), idle_timeout=1)
    try:
        server.process.wait(timeout=15)
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert server.events().iloc[-1]["reason"].startswith("idle for 1")

