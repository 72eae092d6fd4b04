"""What lesson 11 relies on, against the real broker: reading connections and channels, closing a
connection from the broker's side, and changing the running broker for a while (and back)."""

import threading
import time

import pika
import pytest

from helpers.amqp import connect, declare_queue, publish
from helpers.errors import CourseError
from helpers.management import management_api
from helpers.ops import broker
from helpers.waiting import wait_until
from limits import NEVER_HANGS


def test_a_connection_is_read_back_with_its_heartbeat_and_channels():
    api = management_api()
    with connect(name="pytest-read-back", heartbeat=7) as connection:
        opened = [connection.channel() for _ in range(3)]
        assert api.connection("pytest-read-back")["heartbeat"] == 7
        channels = api.channels("pytest-read-back", at_least=3)
        assert list(channels["number"]) == [channel.channel_number for channel in opened]
    with pytest.raises(CourseError, match="Waited 1 s for the connection 'pytest-nobody' to be listed, in vain"):
        api.connection("pytest-nobody", timeout=1)


def test_a_connection_closed_from_the_broker_side_tells_the_client_why():
    api = management_api()
    connection = connect(name="pytest-to-close")
    api.close_connection("pytest-to-close", reason="Closed by a test")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        wait_until(lambda: connection.process_data_events(time_limit=0.1), "the close to arrive", timeout=5)
    assert closed.value.reply_code == 320 and "Closed by a test" in closed.value.reply_text


def test_the_broker_counts_the_connections_it_opened():
    api = management_api()
    before = api.churn()
    for _ in range(3):
        connect(name="pytest-churn").close()
    grown = api.wait_for_churn(since=before, connection_created=3, connection_closed=3)
    assert grown["connection_created"] >= 3 and grown["connection_closed"] >= 3


def test_changed_settings_take_effect_and_are_put_back():
    ctl = broker._operator_command("change")
    before = broker._settings(ctl, ["consumer_timeout", "channel_tick_interval"])
    with connect(name="pytest-timeout") as connection:
        channel = connection.channel()
        declare_queue(channel, "pytest-ack-timeout")
        channel.queue_purge("pytest-ack-timeout")
        publish(channel, "pytest-ack-timeout", "held", persistent=True)
        with broker.changed_settings(consumer_timeout=1000, channel_tick_interval=200):
            assert broker._settings(ctl, ["consumer_timeout", "channel_tick_interval"]) == ["1000", "200"]
            holder = connection.channel()  # a channel reads the timeout when it opens
            holder.basic_qos(prefetch_count=1)
            holder.basic_consume("pytest-ack-timeout", lambda *delivery: None)  # never acks
            # Closed within 10 s proves the lowered timeout took effect (the default is 30 minutes);
            # the broker's log line below says it was the ack timeout, with the value it used.
            wait_until(lambda: connection.process_data_events(time_limit=0.1) or holder.is_closed,
                       "the broker to close the channel", timeout=10)
        assert broker._settings(ctl, ["consumer_timeout", "channel_tick_interval"]) == before
        assert channel.queue_declare("pytest-ack-timeout", passive=True).method.message_count == 1  # back in the queue
        channel.queue_delete("pytest-ack-timeout")
    assert "delivery acknowledgement on channel" in broker.log_lines("timed out. Timeout value used: 1000 ms")[-1]


def test_a_memory_alarm_blocks_publishers_until_it_clears():
    api = management_api()
    raised, seen = threading.Event(), []

    def alarm_for_a_while():
        with broker.memory_alarm():
            raised.set()
            time.sleep(4)

    with connect(name="pytest-blocked") as connection:
        connection.add_on_connection_blocked_callback(lambda *frame: seen.append("blocked"))
        connection.add_on_connection_unblocked_callback(lambda *frame: seen.append("unblocked"))
        channel = connection.channel()
        channel.confirm_delivery()
        declare_queue(channel, "pytest-alarm")
        alarm = threading.Thread(target=alarm_for_a_while)
        alarm.start()
        assert raised.wait(timeout=2 * NEVER_HANGS)  # rabbitmqctl takes seconds to start, more under load
        started = time.monotonic()
        publish(channel, "pytest-alarm", "waits", persistent=True)  # confirmed only once the alarm clears
        held = time.monotonic() - started
        alarm.join(timeout=2 * NEVER_HANGS)
        connection.process_data_events(time_limit=0.2)  # runs the blocked/unblocked callbacks
        channel.queue_delete("pytest-alarm")
    assert held > 1, f"the publish was confirmed after {held:.1f} s, during the alarm"
    assert seen == ["blocked", "unblocked"]
    wait_until(lambda: api.node().get("mem_alarm") is False, "the broker to show the alarm cleared", timeout=10)


def test_a_broker_the_course_did_not_start_is_never_changed_stopped_or_read(monkeypatch):
    monkeypatch.setenv("BROKER_BACKEND", "existing")
    for action in (lambda: broker.changed_settings(consumer_timeout=1).__enter__(), lambda: broker.memory_alarm().__enter__(),
                   broker.shut_down, lambda: broker.log_lines("anything")):
        with pytest.raises(CourseError, match="was not started by the course, so it cannot"):
            action()
