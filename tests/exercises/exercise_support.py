"""What the exercise tests share.

For each exercise of every lesson, tests/exercises/test_NN_*.py gives its check wrong answers
of every kind a learner who half-understood would write (left empty, the expected value typed
in, each plausible mistake), each of which must get ❌ with a next step, and the solution, which
must get ✅; a second try after a wrong one must get ✅ too. A check never raises.

A verdict that rests on timing (a copy checked right after publishing, a connection cut while a
job runs) is tested EVERY_RUN times in each run, so a check that answers by luck shows itself.
Three by default: `make soak` repeats the whole suite, and `make test PYTEST_ARGS=...` with
COURSE_TEST_REPEAT=10 set asks for more in one run.
"""

import os

EVERY_RUN = int(os.environ.get("COURSE_TEST_REPEAT", "3"))


def said(capsys):
    """The one line a check printed: its verdict, ✅ or ❌, and why (a ❌ must say what to do next)."""
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and out[:1] in "✅❌", f"a check prints one line: {out!r}"
    if out.startswith("❌"):
        assert len(out) > 30, f"a ❌ says what to do next: {out!r}"
    return out


def verdict(capsys):
    """The one verdict a check printed, ✅ or ❌."""
    return said(capsys)[0]


def fresh(channel, *queues, exchanges=()):
    """Delete these queues and exchanges, as an exercise's given cell does."""
    for queue in queues:
        channel.queue_delete(queue)
    for exchange in exchanges:
        channel.exchange_delete(exchange)


# Consume functions of lessons 03 and 04's exercises: the lesson's own (consume_right), and two
# mistakes a learner makes in both.
def consume_right(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_ack_before_work(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        ch.basic_ack(delivery_tag=method.delivery_tag)
        do_job(body)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_hard_coded_tag(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=1)

    channel.basic_consume(queue=queue, on_message_callback=on_message)
