"""Lesson 04 (fair dispatch): each exercise's check against wrong answers, on the real broker."""

import numpy as np
import pytest

from helpers import checks
from helpers.lab.workers import make_jobs
from exercise_support import EVERY_RUN, consume_ack_before_work, consume_hard_coded_tag, consume_right, verdict

REPORT_JOBS = make_jobs(8, durations=[0.5, 2.0, 0.5, 4.0])  # as the lesson's given cell
PING_JOBS = make_jobs(5000, durations=[0.001])


@pytest.mark.parametrize("reports, pings, expected", [
    (None, None, "❌❌"), (0, 0, "❌❌"), (100, 1, "❌❌"), (1, 5, "✅❌"), (1, 100, "✅✅"),
])
def test_04_exercise_1_prefetch_choice(capsys, reports, pings, expected):
    checks.check_prefetch_choice(REPORT_JOBS, reports)
    first = verdict(capsys)
    checks.check_prefetch_choice(PING_JOBS, pings)
    assert first + verdict(capsys) == expected


@pytest.mark.parametrize("prefetch, expected", [
    # typed values of the wrong kind: a bool is an int in Python, a text, a float
    (True, "❌"), ("1", "❌"), (1.0, "❌"), (-1, "❌"), ([1], "❌"),
    # the boundary for long jobs: one below, at, one above
    (0, "❌"), (1, "✅"), (2, "❌"), (np.int64(1), "✅"),
])
def test_04_exercise_1_long_jobs_typed_values_and_the_boundary(capsys, prefetch, expected):
    checks.check_prefetch_choice(REPORT_JOBS, prefetch)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("prefetch, expected", [
    (False, "❌"), ("100", "❌"), (100.0, "❌"),
    # both ends of "tens to a few hundred": one below, at, one above each
    (9, "❌"), (10, "✅"), (11, "✅"), (999, "✅"), (1000, "✅"), (1001, "❌"), (65535, "❌"),
])
def test_04_exercise_1_tiny_jobs_typed_values_and_the_boundaries(capsys, prefetch, expected):
    checks.check_prefetch_choice(PING_JOBS, prefetch)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("seconds, prefetch_1", [(0.009, "❌"), (0.01, "✅"), (0.011, "✅")])
def test_04_exercise_1_the_boundary_between_long_and_tiny_jobs(capsys, seconds, prefetch_1):
    """Jobs as long as LONG_JOB_SECONDS count as long: prefetch 1 is right from there on."""
    assert checks.LONG_JOB_SECONDS == 0.01
    checks.check_prefetch_choice(make_jobs(10, durations=[seconds]), 1)
    assert verdict(capsys) == prefetch_1


def consume_left_empty(channel, queue, do_job):
    ...


def consume_without_qos(channel, queue, do_job):
    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_prefetch_3(channel, queue, do_job):
    channel.basic_qos(prefetch_count=3)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_prefetch_2(channel, queue, do_job):  # one above the asked limit
    channel.basic_qos(prefetch_count=2)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_qos_after_consume(channel, queue, do_job):
    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)
    channel.basic_qos(prefetch_count=1)  # too late: the consumer has no limit


def consume_auto_ack(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)

    channel.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)


def consume_never_acks(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_nacks(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_nack(delivery_tag=method.delivery_tag, requeue=False)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_skips_the_work(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_twice(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)
    channel.basic_consume(queue=queue, on_message_callback=on_message)


EXERCISE_JOBS = make_jobs(8, durations=[0.1, 0.6])  # as the lesson's given cell


@pytest.mark.parametrize("consume", [
    None, "consume", consume_left_empty, consume_auto_ack, consume_hard_coded_tag, consume_never_acks, consume_nacks,
    consume_skips_the_work, consume_twice, consume_prefetch_2,
], ids=lambda consume: getattr(consume, "__name__", repr(consume)))
def test_04_exercise_2_wrong_answers(capsys, consume):
    checks.check_fair_dispatch(consume, EXERCISE_JOBS, queue="test-fair-dispatch")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
@pytest.mark.parametrize("consume, expected", [
    (consume_without_qos, "❌"), (consume_prefetch_3, "❌"), (consume_qos_after_consume, "❌"),
    (consume_ack_before_work, "❌"), (consume_right, "✅"),
], ids=lambda consume: getattr(consume, "__name__", consume))
def test_04_exercise_2_the_same_verdict_on_every_run(capsys, consume, expected, attempt):
    """The answers a spread of busy times once told apart (and once failed the right one under
    load): the verdict now comes from the broker's consumers and the workers' record of acks."""
    checks.check_fair_dispatch(consume, EXERCISE_JOBS, queue="test-fair-dispatch")
    assert verdict(capsys) == expected


def test_04_exercise_2_a_second_try_after_a_wrong_one(capsys):
    checks.check_fair_dispatch(consume_never_acks, EXERCISE_JOBS, queue="test-fair-dispatch")
    assert verdict(capsys) == "❌"
    checks.check_fair_dispatch(consume_right, EXERCISE_JOBS, queue="test-fair-dispatch")
    assert verdict(capsys) == "✅"
