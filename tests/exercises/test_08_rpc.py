"""Lesson 08 (request/reply): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import connect
from helpers.lab.rpc import RpcClient, RpcServer, RpcTimeout
from exercise_support import verdict, fresh


ORDER = [("photo-print", 36), ("frame", 3), ("photo-book", 1)]


@pytest.fixture
def pricing(channel):
    fresh(channel, "test-rpc")
    server = RpcServer("test-rpc", idle_timeout=60)
    with connect(name="pytest-rpc-client") as connection:
        yield server, connection
    server.stop()
    fresh(channel, "test-rpc")


def call_all(connection, order):
    with RpcClient(connection, "test-rpc", direct_reply_to=True) as client:
        return [client.call({"item": item, "quantity": quantity}, timeout=5) for item, quantity in order]


def test_08_exercise_1_order_total(pricing, capsys):
    server, connection = pricing
    checks.check_order_total(None, ORDER, server)
    assert verdict(capsys) == "❌"  # left empty
    right_total = round(sum(reply["total"] for reply in call_all(connection, ORDER)), 2)
    fresh_server = RpcServer("test-rpc-typed", idle_timeout=60)
    try:
        checks.check_order_total(right_total, ORDER, fresh_server)
        assert verdict(capsys) == "❌"  # the expected value typed in: that server answered nothing
    finally:
        fresh_server.stop()
    checks.check_order_total("117.96", ORDER, server)
    assert verdict(capsys) == "❌"  # a string, not a number
    checks.check_order_total(right_total - 1, ORDER, server)
    assert verdict(capsys) == "❌"  # a wrong sum
    checks.check_order_total(right_total, ORDER, server)
    assert verdict(capsys) == "✅"


def test_08_exercise_1_only_some_lines_called(pricing, capsys):
    server, connection = pricing
    partial = call_all(connection, ORDER[:2])
    checks.check_order_total(sum(reply["total"] for reply in partial), ORDER, server)
    assert verdict(capsys) == "❌"


def test_08_exercise_2_gave_up(pricing, capsys):
    server, connection = pricing
    checks.check_gave_up(None, queue="test-rpc")
    assert verdict(capsys) == "❌"  # a server still consumes, and nothing was caught
    server.stop()
    checks.check_gave_up(None, queue="test-rpc")
    assert verdict(capsys) == "❌"  # left empty
    checks.check_gave_up(RpcTimeout("No reply"), queue="test-rpc")
    assert verdict(capsys) == "❌"  # typed in: no call was made
    checks.check_gave_up(TimeoutError("timed out"), queue="test-rpc")
    assert verdict(capsys) == "❌"
    error = None
    with RpcClient(connection, "test-rpc") as client:
        try:
            client.call({"item": "poster", "quantity": 1}, timeout=1)
        except RpcTimeout as caught:
            error = caught
    checks.check_gave_up(error, queue="test-rpc")
    assert verdict(capsys) == "✅"
