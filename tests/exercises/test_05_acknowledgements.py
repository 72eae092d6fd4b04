"""Lesson 05 (acknowledgements): each exercise's check against wrong answers, on the real broker."""

import json

import pytest

from helpers import checks
from exercise_support import verdict


def consume_left_empty(channel, queue, do_job):
    ...


def handle_left_empty(channel, method, body, work):
    ...


def handle_ack_first(channel, method, body, work):
    channel.basic_ack(method.delivery_tag)
    work(json.loads(body))


def handle_right(channel, method, body, work):
    work(json.loads(body))
    channel.basic_ack(method.delivery_tag)


@pytest.mark.parametrize("handle, expected", [
    (None, "❌"), (handle_left_empty, "❌"), (handle_ack_first, "❌"), (handle_right, "✅"),
])
def test_05_exercise_1_ack_after_work(capsys, handle, expected):
    checks.check_ack_after_work(handle, queue="test-ack-after-work")
    assert verdict(capsys) == expected


def failing_requeued(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821 - given to every consume function
            ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def failing_acked(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            pass
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def failing_rejected(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


@pytest.mark.parametrize("consume, expected", [
    (None, "❌"), (consume_left_empty, "❌"), (failing_requeued, "❌"), (failing_acked, "❌"), (failing_rejected, "✅"),
])
def test_05_exercise_2_a_failed_job_is_rejected(capsys, consume, expected):
    checks.check_failed_job_dropped(consume, queue="test-acks-exercise", failing="job-002")
    assert verdict(capsys) == expected
