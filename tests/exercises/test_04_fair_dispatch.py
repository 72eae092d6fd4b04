"""Lesson 04 (fair dispatch): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.lab.workers import make_jobs
from exercise_support import verdict


@pytest.mark.parametrize("reports, pings, expected", [
    (None, None, "❌❌"), (0, 0, "❌❌"), (100, 1, "❌❌"), (1, 5, "✅❌"), (1, 100, "✅✅"),
])
def test_04_exercise_1_prefetch_choice(capsys, reports, pings, expected):
    checks.check_prefetch_choice(make_jobs(8, durations=[0.5, 2.0, 0.5, 4.0]), reports)
    first = verdict(capsys)
    checks.check_prefetch_choice(make_jobs(5000, durations=[0.001]), pings)
    assert first + verdict(capsys) == expected


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


def consume_right(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


@pytest.mark.parametrize("consume, expected", [
    (None, "❌"), (consume_left_empty, "❌"), (consume_without_qos, "❌"), (consume_prefetch_3, "❌"), (consume_right, "✅"),
])
def test_04_exercise_2_fair_dispatch(capsys, consume, expected):
    checks.check_fair_dispatch(consume, make_jobs(8, durations=[0.1, 0.6]), queue="test-fair-dispatch")
    assert verdict(capsys) == expected
