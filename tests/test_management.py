"""helpers.management and helpers.metrics against the real broker's management API."""

import socket
import time

import pytest

from helpers.amqp import connect, declare_queue, drain, publish
from helpers.errors import CourseError
from helpers.waiting import poll, wait_until
from helpers.management import ManagementAPI
from helpers.metrics import QueueSampler
from silent_server import SilentServer
from limits import NEVER_HANGS


def test_an_api_that_never_answers_times_out_with_a_clear_message():
    with SilentServer() as server:
        api = ManagementAPI(f"http://127.0.0.1:{server.port}", "devuser", "devpassword", timeout=1)
        started = time.monotonic()
        with pytest.raises(CourseError, match="did not answer within 1 s"):
            api.overview()
        assert time.monotonic() - started < NEVER_HANGS


def test_an_api_that_is_down_says_how_to_start_the_broker():
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = ManagementAPI(f"http://127.0.0.1:{port}", "devuser", "devpassword", timeout=2)
    with pytest.raises(CourseError, match="not reachable.*make broker"):
        api.overview()


def test_a_wrong_password_is_named_as_such(api):
    wrong = ManagementAPI(api.url, "devuser", "wrong", timeout=3)
    with pytest.raises(CourseError, match="refused the login for user 'devuser'"):
        wrong.overview()


def test_queues_table_shows_a_declared_queue_and_its_depth(channel, queue_name, api):
    declare_queue(channel, queue_name)
    for _ in range(3):
        publish(channel, queue_name, "x", persistent=True)
    api.wait_for_queue(queue_name, messages=3)
    row = api.queues([queue_name]).iloc[0]
    assert (row["name"], bool(row["durable"]), row["messages"], row["messages_ready"]) == (queue_name, True, 3, 3)


def test_bindings_and_exchanges_read_back(channel, queue_name, api):
    exchange = f"{queue_name}-x"
    channel.exchange_declare(exchange, "topic", durable=True)
    declare_queue(channel, queue_name)
    channel.queue_bind(queue_name, exchange, routing_key="sensor.*.temp")
    try:
        assert exchange in set(api.exchanges().name)
        bindings = api.bindings()
        mine = bindings[bindings.source == exchange]
        assert mine[["destination", "routing_key"]].values.tolist() == [[queue_name, "sensor.*.temp"]]
    finally:
        channel.exchange_delete(exchange)


def test_wait_for_queue_gives_up_with_what_it_saw(channel, queue_name, api):
    declare_queue(channel, queue_name)
    with pytest.raises(CourseError, match="to reach"):
        api.wait_for_queue(queue_name, timeout=1, messages=99)


def test_queue_history_has_one_second_samples(channel, queue_name, api):
    declare_queue(channel, queue_name)
    publish(channel, queue_name, "x", persistent=True)
    api.wait_for_queue(queue_name, messages=1)
    # The history grows by one sample a second: wait for three that show the message.
    def three_samples_with_the_message():
        history = api.queue_history(queue_name, seconds=30)
        return [history] if len(history) >= 3 and history["messages"].iloc[-1] == 1 else None

    [history] = wait_until(three_samples_with_the_message, "three samples of the queue's history", timeout=15, interval=0.5)
    assert history["messages"].iloc[-1] == 1
    steps = history.index.to_series().diff().dropna().dt.total_seconds()
    assert len(steps) >= 2 and steps.max() <= 1.0


def test_sampler_records_a_queue_filling_up(channel, queue_name, api):
    declare_queue(channel, queue_name)
    with QueueSampler(queue_name, interval=0.5, max_duration=20) as sampler:
        for _ in range(7):
            publish(channel, queue_name, "x", persistent=True)
        api.wait_for_queue(queue_name, messages=7)
    frame = sampler.frame()
    assert frame["messages"].iloc[0] == 0
    assert frame["messages"].iloc[-1] == 7
    assert list(frame["seconds"]) == sorted(frame["seconds"])


def test_sampler_stops_by_itself_after_max_duration(queue_name, channel):
    declare_queue(channel, queue_name)
    sampler = QueueSampler(queue_name, interval=0.1, max_duration=0.5).start()
    sampler._thread.join(timeout=10)  # it ends by itself after max_duration, or this test fails
    assert not sampler._thread.is_alive()
    sampler.stop()


def test_consumers_name_the_client_that_consumes(channel, queue_name, api):
    declare_queue(channel, queue_name)
    channel.basic_consume(queue_name, on_message_callback=lambda *args: None)
    def named_consumers():
        consumers = api.wait_for_consumers(queue_name, 1)
        return [consumers] if not consumers["client_name"].isna().any() else None

    [consumers] = wait_until(named_consumers, "the consumer's client name in the management API", timeout=10, interval=0.25)
    assert consumers["client_name"].tolist() == ["pytest"]  # the name conftest's connection gives itself
    assert " -> " in consumers["connection_name"].iloc[0]   # the broker's own name: an address


def test_channel_of_finds_this_very_channel_by_its_connections_id(channel, queue_name, api):
    """Two connections of the same name, channels of the same number: each is told apart, and a
    closed channel is no longer found."""
    with connect(name="pytest") as other:
        other_channel = other.channel()
        assert other_channel.channel_number == channel.channel_number
        channel.queue_declare(queue_name)
        publish(channel, queue_name, "one", persistent=False)
        publish(channel, queue_name, "two", persistent=False)
        assert len(drain(channel, queue_name, idle_timeout=0.5, deadline=3)) == 2

        def acks_of(this):
            found = api.channel_of(this)
            return found and (found.get("message_stats") or {}).get("ack")
        assert wait_until(lambda: acks_of(channel), "the acks to be counted", timeout=10) == 2
        assert wait_until(lambda: api.channel_of(other_channel), "the other channel to be listed", timeout=10)
        assert not acks_of(other_channel)
        other_channel.close()
        assert poll(lambda: api.channel_of(other_channel) is None, 10), "a closed channel is still found"


def test_a_lessons_new_channel_never_takes_the_number_of_the_one_it_closed():
    from helpers.lesson import start_lesson

    lesson = start_lesson()
    try:
        numbers = [lesson.new_channel().channel_number for _ in range(3)]
        assert len(set(numbers)) == 3
        mine = lesson.connection.channel()  # a learner's own channel takes a free number: it is skipped
        assert lesson.new_channel().channel_number not in {*numbers, mine.channel_number}
    finally:
        lesson.close()
