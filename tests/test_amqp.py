"""helpers.amqp against the real broker: fast clear failures, and consumption that always ends."""

import threading
import time

import pytest

from helpers.config import settings
from helpers.amqp import connect, declare_queue, deliveries, drain, publish
from helpers.errors import CourseError
from silent_server import SilentServer
from limits import NEVER_HANGS


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_broker_down_gives_one_line_within_5_seconds():
    started = time.monotonic()
    with pytest.raises(CourseError) as error:
        connect(f"amqp://devuser:devpassword@127.0.0.1:{free_port()}/")
    assert time.monotonic() - started < NEVER_HANGS
    message = str(error.value)
    assert "\n" not in message
    assert "not reachable" in message and "make broker" in message


def test_a_port_that_never_answers_fails_within_the_timeout():
    with SilentServer() as server:
        started = time.monotonic()
        with pytest.raises(CourseError, match="not reachable"):
            connect(f"amqp://devuser:devpassword@127.0.0.1:{server.port}/", timeout=2)
        assert time.monotonic() - started < NEVER_HANGS


def test_wrong_password_says_the_login_was_refused():
    with pytest.raises(CourseError, match="refused the login for user 'devuser'"):
        connect(settings().amqp_url.replace(":devpassword@", ":not-the-password@"))


def test_drain_returns_after_the_idle_timeout_when_nothing_waits(channel, queue_name):
    declare_queue(channel, queue_name)
    started = time.monotonic()
    assert drain(channel, queue_name, idle_timeout=0.5, deadline=10) == []
    assert 0.4 < time.monotonic() - started < NEVER_HANGS


def test_drain_stops_at_max_messages_and_leaves_the_rest(channel, queue_name, api):
    declare_queue(channel, queue_name)
    for number in range(5):
        publish(channel, queue_name, {"n": number}, persistent=True)
    taken = drain(channel, queue_name, max_messages=2, idle_timeout=2)
    assert [message.json()["n"] for message in taken] == [0, 1]
    assert api.wait_for_queue(queue_name, messages=3)["messages"] == 3


def test_drain_stops_at_the_deadline_while_messages_keep_coming(channel, queue_name):
    declare_queue(channel, queue_name)

    def trickle():
        with connect(name="pytest-trickle") as connection:
            producer = connection.channel()
            for number in range(30):
                publish(producer, queue_name, str(number), persistent=True)
                time.sleep(0.1)

    producer = threading.Thread(target=trickle)
    producer.start()
    started = time.monotonic()
    taken = drain(channel, queue_name, idle_timeout=2, deadline=1)
    elapsed = time.monotonic() - started
    still_coming = producer.is_alive()  # 30 messages 0.1 s apart: the trickle lasts 3 s or more
    producer.join(timeout=60)
    assert elapsed >= 0.9 and still_coming, "drain ended at its deadline, while messages still came"
    assert 0 < len(taken) < 30


def test_unacked_messages_come_back_marked_redelivered(queue_name):
    with connect() as first:
        channel = first.channel()
        declare_queue(channel, queue_name)
        publish(channel, queue_name, "job", persistent=True)
        assert [m.redelivered for m in drain(channel, queue_name, ack=False, idle_timeout=0.5)] == [False]
    with connect() as second:
        again = drain(second.channel(), queue_name, idle_timeout=1)
    assert [(m.text, m.redelivered) for m in again] == [("job", True)]


def test_redeclaring_a_queue_with_other_arguments_is_explained(channel, queue_name):
    declare_queue(channel, queue_name)
    with pytest.raises(CourseError, match=f"Queue '{queue_name}' already exists with other settings"):
        declare_queue(channel, queue_name, arguments={"x-max-length": 10})


def test_a_queue_that_is_neither_durable_nor_exclusive_is_refused(channel):
    with pytest.raises(CourseError, match="durable=True or exclusive=True"):
        declare_queue(channel, "never-declared", durable=False)


def test_deliveries_stop_when_the_queue_falls_silent_and_cancel_the_consumer(channel, queue_name):
    declare_queue(channel, queue_name)
    for number in range(3):
        publish(channel, queue_name, f"m{number}", persistent=False)
    started = time.monotonic()
    seen = [body for _, _, body in deliveries(channel, queue_name, idle_timeout=0.3, deadline=10)]
    assert seen == [b"m0", b"m1", b"m2"]
    assert time.monotonic() - started < 5  # the idle limit ended it, not the deadline
    assert channel.queue_declare(queue_name, passive=True).method.consumer_count == 0  # cancelled


def test_deliveries_give_back_what_the_caller_did_not_take(channel, queue_name):
    declare_queue(channel, queue_name)
    for number in range(5):
        publish(channel, queue_name, f"m{number}", persistent=False)
    for method, _, _ in deliveries(channel, queue_name, deadline=5):
        channel.basic_ack(method.delivery_tag)
        break  # the caller stops after one; the others were sent ahead and must go back
    with connect(name="pytest-check") as other:
        assert other.channel().queue_declare(queue_name, passive=True).method.message_count == 4
