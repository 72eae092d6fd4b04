"""Lesson 05 (acknowledgements): each exercise's check against wrong answers, on the real broker."""

import json

import pytest

from helpers import checks
from exercise_support import EVERY_RUN, said, verdict


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


# -- exercise 1: wrong answers a learner who half-understood would write, one a kind ---------------
def never_acks_as_if_auto_ack_did_it(channel, method, body, work):
    work(json.loads(body))  # no ack: the broker keeps the job, unacknowledged, and gives it back


def hard_coded_delivery_tag(channel, method, body, work):
    work(json.loads(body))
    channel.basic_ack(1)


def acks_with_multiple_true(channel, method, body, work):
    work(json.loads(body))
    channel.basic_ack(method.delivery_tag, multiple=True)  # also acks the failed job before it


def acks_in_finally(channel, method, body, work):
    try:
        work(json.loads(body))
    finally:
        channel.basic_ack(method.delivery_tag)


def swallows_the_error_then_acks(channel, method, body, work):
    try:
        work(json.loads(body))
    except Exception:
        pass
    channel.basic_ack(method.delivery_tag)


def rejects_the_failed_job(channel, method, body, work):
    try:
        work(json.loads(body))
    except Exception:
        channel.basic_reject(method.delivery_tag, requeue=False)
        return
    channel.basic_ack(method.delivery_tag)


def rejects_instead_of_acking(channel, method, body, work):
    work(json.loads(body))
    channel.basic_reject(method.delivery_tag, requeue=False)  # done, then "never": not an ack


def acks_twice(channel, method, body, work):
    work(json.loads(body))
    channel.basic_ack(method.delivery_tag)
    channel.basic_ack(method.delivery_tag)


def work_given_the_raw_body(channel, method, body, work):
    work(body)
    channel.basic_ack(method.delivery_tag)


def work_given_only_the_id(channel, method, body, work):
    work({"job_id": json.loads(body)["job_id"]})
    channel.basic_ack(method.delivery_tag)


def nacks_the_failed_job_with_requeue(channel, method, body, work):
    try:
        work(json.loads(body))
    except Exception:
        channel.basic_nack(method.delivery_tag, requeue=True)  # allowed: it stays in the queue
        return
    channel.basic_ack(method.delivery_tag)


@pytest.mark.parametrize("handle, expected", [
    (None, "❌"), (handle_left_empty, "❌"), (handle_ack_first, "❌"), (handle_right, "✅"),
])
def test_05_exercise_1_ack_after_work(capsys, handle, expected):
    checks.check_ack_after_work(handle, queue="test-ack-after-work")
    assert verdict(capsys) == expected


@pytest.mark.parametrize("handle", [
    "handle_job", True,  # typed values
    never_acks_as_if_auto_ack_did_it, hard_coded_delivery_tag, acks_with_multiple_true, acks_in_finally,
    swallows_the_error_then_acks, rejects_the_failed_job, rejects_instead_of_acking, acks_twice,
    work_given_the_raw_body, work_given_only_the_id,
], ids=lambda value: getattr(value, "__name__", repr(value)))
def test_05_exercise_1_wrong_answers(capsys, handle):
    checks.check_ack_after_work(handle, queue="test-ack-after-work")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_05_exercise_1_rejects_are_seen_on_every_run(capsys, attempt):
    """A reject is read from the check's queue of rejects after round trips on the channel that
    sent it, not after a wait: a job done and then rejected is never taken for an acked one."""
    checks.check_ack_after_work(rejects_instead_of_acking, queue="test-ack-after-work")
    line = said(capsys)
    assert line[0] == "❌" and "rejected" in line, line


@pytest.mark.parametrize("handle", [handle_right, nacks_the_failed_job_with_requeue], ids=lambda f: f.__name__)
def test_05_exercise_1_right_answers_and_a_second_try(capsys, handle):
    checks.check_ack_after_work(hard_coded_delivery_tag, queue="test-ack-after-work")
    assert verdict(capsys) == "❌"
    checks.check_ack_after_work(handle, queue="test-ack-after-work")
    assert verdict(capsys) == "✅"


def test_05_exercise_1_hints_name_the_mistake(capsys):
    for handle, words in [(hard_coded_delivery_tag, "delivery tag"), (never_acks_as_if_auto_ack_did_it, "never acknowledged"),
                          (rejects_instead_of_acking, "rejected"), (acks_in_finally, "job-2"),
                          (work_given_the_raw_body, "json.loads")]:
        checks.check_ack_after_work(handle, queue="test-ack-after-work")
        out = capsys.readouterr().out
        assert out.startswith("❌") and words in out, (handle.__name__, out)


# -- exercise 2 --------------------------------------------------------------------------------
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


def failing_rejected_with_requeue(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=True)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def failing_rejected_with_pikas_default(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag)  # requeue=True is pika's default
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def hard_coded_delivery_tags(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=1, requeue=False)
            return
        ch.basic_ack(delivery_tag=1)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def hard_coded_tag_for_the_reject_only(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=1, requeue=False)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def auto_ack_and_reject(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)

    channel.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)


def auto_ack_and_nothing_else(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            pass

    channel.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)


def never_acks_the_jobs_done(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def rejects_every_job(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            pass
        ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def no_prefetch_limit(channel, queue, do_job):
    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def lets_job_failed_out(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def prefetch_2(channel, queue, do_job):  # one above the asked limit, the rest right
    channel.basic_qos(prefetch_count=2)
    no_prefetch_limit(channel, queue, do_job)


def acks_before_the_work(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        ch.basic_ack(delivery_tag=method.delivery_tag)
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            pass

    channel.basic_consume(queue=queue, on_message_callback=on_message)


@pytest.mark.parametrize("consume, expected", [
    (None, "❌"), (consume_left_empty, "❌"), (failing_requeued, "❌"), (failing_acked, "❌"), (failing_rejected, "✅"),
])
def test_05_exercise_2_a_failed_job_is_rejected(capsys, consume, expected):
    checks.check_failed_job_dropped(consume, queue="test-acks-exercise", failing="job-002")
    assert verdict(capsys) == expected


@pytest.mark.parametrize("consume", [
    "consume", failing_rejected_with_requeue, failing_rejected_with_pikas_default, hard_coded_delivery_tags,
    hard_coded_tag_for_the_reject_only, auto_ack_and_reject, auto_ack_and_nothing_else, never_acks_the_jobs_done,
    rejects_every_job, no_prefetch_limit, prefetch_2, lets_job_failed_out, acks_before_the_work,
], ids=lambda value: getattr(value, "__name__", repr(value)))
def test_05_exercise_2_wrong_answers(capsys, consume):
    checks.check_failed_job_dropped(consume, queue="test-acks-exercise", failing="job-002")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_05_exercise_2_same_verdicts_on_every_run(capsys, attempt):
    """The verdict comes from what the broker holds once every job was tried, not from a set time.
    Ten runs each of the right answer and of a requeue (the old check counted failures within one
    second), with another kind of wrong answer in turn, a wrong try first and the right one after
    it (a second try works)."""
    for wrong in (failing_requeued, [failing_acked, hard_coded_tag_for_the_reject_only, auto_ack_and_reject][attempt % 3]):
        checks.check_failed_job_dropped(wrong, queue="test-acks-exercise", failing="job-002")
        assert verdict(capsys) == "❌", wrong.__name__
    checks.check_failed_job_dropped(failing_rejected, queue="test-acks-exercise", failing="job-002")
    assert verdict(capsys) == "✅"
