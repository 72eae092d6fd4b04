"""helpers.lab.dead_letters and lesson 09's checks against the real broker: dead letters, retries, replay."""

import json
import time
import uuid

import pika
import pytest

from helpers.amqp import connect, declare_queue, drain, publish
from helpers.checks import check_dead_lettering
from helpers.lab.dead_letters import (RetryTopology, attempt_timeline, dead_letter_table, death_row,
                                  declare_with_dead_letters, peek, process_with_retries, retry_handler, queue_arguments, replay,
                                  requeue_every_delivery, x_death)
from helpers.errors import CourseError
from limits import NEVER_HANGS


class Names:
    """Unique names for one test; ``cleanup`` deletes every queue and exchange it gave out or tracked."""

    def __init__(self):
        self.prefix = f"test-dl-{uuid.uuid4().hex[:8]}"
        self.made = {"queues": set(), "exchanges": set()}

    def __call__(self, suffix, kind="queues"):
        return self.track(f"{self.prefix}-{suffix}", kind)

    def track(self, name, kind="queues"):
        self.made[kind].add(name)
        return name

    def cleanup(self):
        with connect(name="pytest-cleanup") as connection:
            channel = connection.channel()
            for queue in self.made["queues"]:
                channel.queue_delete(queue)
            for exchange in self.made["exchanges"]:
                channel.exchange_delete(exchange)


@pytest.fixture
def names():
    made = Names()
    yield made
    made.cleanup()


def test_the_three_causes_reach_one_dead_letter_queue_with_their_reasons(channel, api, names):
    dlq, dlx = names("dead"), names("dlx", "exchanges")
    orders, inbox, reminders = names("orders"), names("inbox"), names("reminders")
    declare_with_dead_letters(channel, orders, dlq=dlq, dlx=dlx)
    declare_with_dead_letters(channel, inbox, dlq=dlq, dlx=dlx, arguments={"x-max-length": 1})
    declare_with_dead_letters(channel, reminders, dlq=dlq, dlx=dlx, arguments={"x-message-ttl": 100})

    publish(channel, orders, "bad order", persistent=True)
    method, _, _ = channel.basic_get(orders)
    channel.basic_reject(method.delivery_tag, requeue=False)
    publish(channel, inbox, "old", persistent=True)
    publish(channel, inbox, "new", persistent=True)
    publish(channel, reminders, "late", expiration="50", persistent=True)
    api.wait_for_queue(dlq, messages=3)

    table = dead_letter_table(drain(channel, dlq, idle_timeout=1.0))
    rows = {row["message"]: row for row in table.to_dict("records")}
    assert set(rows) == {"bad order", "old", "late"}
    assert (rows["bad order"]["reason"], rows["bad order"]["queue"]) == ("rejected", orders)
    assert (rows["old"]["reason"], rows["old"]["queue"]) == ("maxlen", inbox)
    assert (rows["late"]["reason"], rows["late"]["queue"], rows["late"]["original_expiration"]) == ("expired", reminders, "50")
    assert set(table["count"]) == {1}


def test_a_default_exchange_dead_letter_route_and_its_arguments(channel, names):
    work, dlq = names("work"), names("dead")
    declare_with_dead_letters(channel, work, dlq=dlq, dlx="", arguments={"x-max-length": 5})
    arguments = queue_arguments([work], keys=["x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-length", "x-overflow"])
    assert arguments.to_dict("records") == [{"queue": work, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq,
                                             "x-max-length": 5, "x-overflow": ""}]
    publish(channel, work, "no", persistent=True)
    method, _, _ = channel.basic_get(work)
    channel.basic_nack(method.delivery_tag, requeue=False)
    [message] = drain(channel, dlq, max_messages=1, idle_timeout=2.0)
    assert death_row(message)["reason"] == "rejected"


def test_a_message_that_never_died_reads_as_an_empty_row():
    assert x_death({}) == [] and x_death(None) == []
    row = death_row({"text": "fresh", "headers": {"other": 1}})
    assert row["message"] == "fresh" and row["reason"] == "" and row["count"] == 0


def test_peek_leaves_the_messages_in_place(channel, api, queue_name):
    declare_queue(channel, queue_name)
    for text in ("a", "b", "c"):
        publish(channel, queue_name, text, headers={"n": 1}, persistent=True)
    api.wait_for_queue(queue_name, messages=3)
    assert [message["text"] for message in peek(queue_name)] == ["a", "b", "c"]
    assert peek(queue_name, count=1)[0]["headers"] == {"n": 1}
    assert [message.text for message in drain(channel, queue_name, idle_timeout=1.0)] == ["a", "b", "c"]


def test_retry_delays_must_grow():
    with pytest.raises(CourseError, match="growing"):
        RetryTopology("x", delays=[1.0, 0.5])
    topology = RetryTopology("jobs", delays=[0.1, 0.3])
    assert topology.wait_queues == ["jobs.wait-100ms", "jobs.wait-300ms"]
    assert topology.parking_lot == "jobs.parking-lot" and topology.max_attempts == 3


def test_a_failing_job_is_retried_with_growing_delays_then_parked_and_replayed(channel, api, names):
    work = names("emails")
    topology = RetryTopology(work, delays=[0.1, 0.3])
    for queue in topology.queues:
        names.track(queue)
    topology.declare(channel)
    broken = {"down": True}

    def handler(job):
        if job["job_id"] == "bad" and broken["down"]:
            raise ConnectionRefusedError("down")

    for job_id in ("good", "bad"):
        publish(channel, work, {"job_id": job_id}, persistent=True)
    attempts = process_with_retries(channel, topology, retry_handler(topology, handler), jobs=2, deadline=20)

    assert attempts.groupby("job_id")["outcome"].last().to_dict() == {"good": "done", "bad": "parked"}
    timeline = attempt_timeline(attempts, "bad", topology)
    assert list(timeline["attempt"]) == [1, 2, 3]
    assert list(timeline["planned delay (s)"]) == [0.0, 0.1, 0.3]
    assert all(gap >= 0.8 * delay for gap, delay in zip(timeline["gap (s)"][1:], [0.1, 0.3]))
    assert list(attempts[attempts.job_id == "bad"].came_from)[1:] == [f"{work}.wait-100ms (expired)", f"{work}.wait-300ms (expired)"]

    api.wait_for_queue(topology.parking_lot, messages=1)
    [parked] = peek(topology.parking_lot)
    assert json.loads(parked["text"]) == {"job_id": "bad"} and parked["headers"]["attempts"] == 3

    broken["down"] = False
    assert replay(channel, topology.parking_lot, work) == 1
    again = process_with_retries(channel, topology, retry_handler(topology, handler), jobs=1, deadline=10)
    assert again.to_dict("records")[0] | {"seconds": 0} == {
        "job_id": "bad", "attempt": 1, "seconds": 0, "came_from": "replayed", "outcome": "done", "error": ""}
    for queue in topology.queues:
        api.wait_for_queue(queue, messages=0)


def test_process_with_retries_stops_at_its_deadline(channel, names):
    topology = RetryTopology(names("idle"), delays=[0.1])
    for queue in topology.queues:
        names.track(queue)
    topology.declare(channel)
    started = time.monotonic()
    attempts = process_with_retries(channel, topology, retry_handler(topology, lambda job: None), jobs=1, deadline=1.0)
    assert attempts.empty and time.monotonic() - started < NEVER_HANGS


def test_replay_moves_everything_strips_retry_headers_and_ends(channel, api, names):
    parking, work = names("parking"), names("work")
    declare_queue(channel, parking)
    declare_queue(channel, work)
    for number in range(3):
        publish(channel, parking, f"job {number}", headers={"attempts": 4, "error": "x", "tenant": "acme"}, persistent=True)
    api.wait_for_queue(parking, messages=3)
    assert replay(channel, parking, work) == 3
    moved = drain(channel, work, idle_timeout=1.0)
    assert [message.text for message in moved] == ["job 0", "job 1", "job 2"]
    assert moved[0].headers == {"tenant": "acme", "replayed": True}
    assert moved[0].properties.delivery_mode == pika.DeliveryMode.Persistent.value
    assert replay(channel, parking, work) == 0


def test_replay_from_a_missing_queue_or_to_nowhere_says_so_and_loses_nothing(channel, api, names):
    parking = names("parking")
    with pytest.raises(CourseError, match="no queue named"):
        replay(channel, names("missing"), parking)
    declare_queue(channel, parking)
    publish(channel, parking, "keep me", persistent=True)
    api.wait_for_queue(parking, messages=1)
    with pytest.raises(CourseError, match="still in"):
        replay(channel, parking, names("nowhere"))
    api.wait_for_queue(parking, messages=1)


def test_a_poison_message_stops_at_the_delivery_limit_and_is_dead_lettered(channel, api, names):
    payments, dead = names("payments"), names("payments-dead")
    declare_with_dead_letters(channel, payments, dlq=dead, dlx="", arguments={"x-queue-type": "quorum", "x-delivery-limit": 2})
    publish(channel, payments, "poison", persistent=True)
    deliveries = requeue_every_delivery(channel, payments, idle_timeout=1.0, deadline=15)
    assert 1 <= len(deliveries) <= 3
    api.wait_for_queue(dead, messages=1)
    [message] = drain(channel, dead, idle_timeout=1.0)
    assert message.text == "poison"
    assert death_row(message)["queue"] in (payments, "")


# -- the checks of lesson 09 ------------------------------------------------------------------------
def test_check_dead_lettering_passes_for_a_working_route(channel, names, capsys):
    work, dead, dlx = names("refunds"), names("refunds-dead"), names("dlx", "exchanges")
    declare_with_dead_letters(channel, work, dlq=dead, dlx=dlx)
    check_dead_lettering(work, dead)
    assert capsys.readouterr().out.startswith("✅")
    assert channel.queue_declare(dead, passive=True).method.message_count == 0  # the probe was taken out again


def test_check_dead_lettering_fails_without_the_argument(channel, names, capsys):
    work, dead = names("refunds"), names("refunds-dead")
    declare_queue(channel, work)
    declare_queue(channel, dead)
    check_dead_lettering(work, dead)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "x-dead-letter-exchange" in out


def test_check_dead_lettering_fails_when_the_exchange_routes_elsewhere(channel, names, capsys):
    work, dead, other, dlx = names("refunds"), names("refunds-dead"), names("other"), names("dlx", "exchanges")
    declare_with_dead_letters(channel, work, dlq=other, dlx=dlx)
    declare_queue(channel, dead)
    check_dead_lettering(work, dead, wait=1.0)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "did not reach" in out


def test_check_dead_lettering_fails_for_missing_queues_and_a_busy_queue(channel, names, capsys):
    work, dead, dlx = names("refunds"), names("refunds-dead"), names("dlx", "exchanges")
    check_dead_lettering(work, dead)
    assert "no queue named" in capsys.readouterr().out
    declare_with_dead_letters(channel, work, dlq=dead, dlx=dlx)
    publish(channel, work, "already here", persistent=True)
    check_dead_lettering(work, dead)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "empty it first" in out
