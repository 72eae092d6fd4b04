"""Lesson 08 (request/reply): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import connect
from helpers.lab.rpc import RpcClient, RpcServer, RpcTimeout, quote
from exercise_support import EVERY_RUN, fresh, verdict


ORDER = [("photo-print", 36), ("frame", 3), ("photo-book", 1)]


@pytest.fixture
def pricing(channel):
    fresh(channel, "test-rpc")
    server = RpcServer("test-rpc", idle_timeout=60)  # the exercise's given cell: a fresh server
    with connect(name="pytest-rpc-client") as connection:
        yield server, connection
    server.stop()
    fresh(channel, "test-rpc")


def call_all(connection, order, direct_reply_to=True):
    with RpcClient(connection, "test-rpc", direct_reply_to=direct_reply_to) as client:
        return [client.call({"item": item, "quantity": quantity}, timeout=5) for item, quantity in order]


def total(replies):
    return round(sum(reply["total"] for reply in replies), 2)


def test_08_exercise_1_order_total(pricing, capsys):
    server, connection = pricing
    checks.check_order_total(None, ORDER, server)
    assert verdict(capsys) == "❌"  # left empty
    right_total = total(call_all(connection, ORDER))
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


def test_08_exercise_1_total_computed_locally_not_asked(pricing, capsys):
    server, _ = pricing
    checks.check_order_total(total(quote({"item": item, "quantity": quantity}) for item, quantity in ORDER), ORDER, server)
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("summed", ["every_reply", "one_reply_a_line"])
def test_08_exercise_1_each_line_called_twice(pricing, capsys, summed):
    server, connection = pricing
    replies = call_all(connection, ORDER + ORDER)
    checks.check_order_total(total(replies if summed == "every_reply" else replies[:len(ORDER)]), ORDER, server)
    assert verdict(capsys) == "❌"


def test_08_exercise_1_an_extra_line_called(pricing, capsys):
    server, connection = pricing
    replies = call_all(connection, ORDER + [("poster", 1)])
    checks.check_order_total(total(replies[:len(ORDER)]), ORDER, server)
    assert verdict(capsys) == "❌"


def test_08_exercise_1_quantity_one_for_each_line(pricing, capsys):
    server, connection = pricing
    replies = call_all(connection, [(item, 1) for item, _ in ORDER])
    checks.check_order_total(total(replies), ORDER, server)
    assert verdict(capsys) == "❌"


def test_08_exercise_1_a_callback_queue_instead_of_direct_reply_to(pricing, capsys):
    server, connection = pricing
    right = total(call_all(connection, ORDER, direct_reply_to=False))
    checks.check_order_total(right, ORDER, server)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "direct_reply_to=True" in out


def test_08_exercise_1_not_a_server(pricing, capsys):
    checks.check_order_total(117.96, ORDER, "server")
    assert verdict(capsys) == "❌"


def test_08_exercise_1_a_second_server_takes_some_requests(pricing, capsys):
    server, connection = pricing
    other = RpcServer("test-rpc", idle_timeout=60, name="pricing-server-2")
    try:
        right = total(call_all(connection, ORDER))
        checks.check_order_total(right, ORDER, server)
        assert verdict(capsys) == "❌"
    finally:
        other.stop()


def stop_and_call(server, connection, timeout=1):
    server.stop()
    with RpcClient(connection, "test-rpc") as client:
        try:
            client.call({"item": "poster", "quantity": 1}, timeout=timeout)
        except RpcTimeout as caught:
            return caught
    return None


def test_08_exercise_2_gave_up(pricing, capsys):
    server, connection = pricing
    checks.check_gave_up(None, server)
    assert verdict(capsys) == "❌"  # a server still consumes, and nothing was caught
    server.stop()
    checks.check_gave_up(None, server)
    assert verdict(capsys) == "❌"  # left empty
    checks.check_gave_up(RpcTimeout("No reply"), server)
    assert verdict(capsys) == "❌"  # typed in: no call was made
    checks.check_gave_up(TimeoutError("timed out"), server)
    assert verdict(capsys) == "❌"
    error = stop_and_call(server, connection)
    checks.check_gave_up(error, server)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_08_exercise_2_right_every_time(pricing, capsys, attempt):
    """The stop, the broker's consumer count and the send time, read in order: the same verdict on every run."""
    server, connection = pricing
    checks.check_gave_up(stop_and_call(server, connection), server)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_08_exercise_2_timeout_from_before_the_stop_every_time(pricing, capsys, attempt):
    """A call that timed out against a slow server, kept, then the server stopped: ❌ on every run."""
    server, connection = pricing
    server.stop()
    slow = RpcServer("test-rpc", idle_timeout=60, mode="slow", delay=1.2)
    with RpcClient(connection, "test-rpc") as client:
        try:
            client.call({"item": "poster", "quantity": 1}, timeout=1)
            error = None
        except RpcTimeout as caught:
            error = caught
    slow.stop()
    checks.check_gave_up(error, slow)
    assert verdict(capsys) == "❌"


def test_08_exercise_2_server_left_running(pricing, capsys):
    """The call made while the server runs: it answers, nothing is caught, and the server still runs."""
    server, connection = pricing
    error = None
    with RpcClient(connection, "test-rpc") as client:
        try:
            client.call({"item": "poster", "quantity": 1}, timeout=1)
        except RpcTimeout as caught:
            error = caught
    checks.check_gave_up(error, server)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "server.stop()" in out


def test_08_exercise_2_another_server_still_consumes(pricing, capsys):
    server, connection = pricing
    server.stop()
    other = RpcServer("test-rpc", idle_timeout=60, name="pricing-server-2", mode="slow", delay=3)
    try:
        with RpcClient(connection, "test-rpc") as client:
            try:
                client.call({"item": "poster", "quantity": 1}, timeout=1)
                error = None
            except RpcTimeout as caught:
                error = caught
        checks.check_gave_up(error, server)
        assert verdict(capsys) == "❌"
    finally:
        other.stop()


@pytest.mark.parametrize("timeout", [5, 0.2])
def test_08_exercise_2_another_timeout_than_asked(pricing, capsys, timeout):
    server, connection = pricing
    error = stop_and_call(server, connection, timeout=timeout)
    checks.check_gave_up(error, server)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "timeout=1" in out


def test_08_exercise_2_a_timeout_to_another_queue(pricing, capsys, channel):
    server, connection = pricing
    server.stop()
    channel.queue_declare("test-rpc-other", durable=True)
    try:
        with RpcClient(connection, "test-rpc-other") as client:
            try:
                client.call({"item": "poster", "quantity": 1}, timeout=1)
                error = None
            except RpcTimeout as caught:
                error = caught
        checks.check_gave_up(error, server)
        assert verdict(capsys) == "❌"
    finally:
        channel.queue_delete("test-rpc-other")


def test_08_exercise_2_not_a_server(capsys):
    checks.check_gave_up(RpcTimeout("No reply"), None)
    assert verdict(capsys) == "❌"
