"""A check's outcome, kept where a workshop's instructor can read it (``python -m helpers.ops.classroom``).

Only when the course runs as a classroom: the attendee's ``.env``, written by ``classroom create``,
sets ``COURSE_CLASSROOM`` (the class's name). Each check then publishes one small persistent
message to the queue ``course.progress`` in the attendee's own vhost: the check's name, its first
argument when that is a name (it tells lesson 07's two routing exercises apart), ✅ or ❌, and the
time. Nothing else is sent, and a broker that does not answer never stops a lesson: the record is
skipped. A lesson that runs on a node of the attendee's own (``helpers/ops/own_node.py``) still
records on the room's broker. Outside a classroom, nothing is recorded and the learner's broker holds no such queue.
"""

import time

from ..config import env, room_amqp_url, settings

PROGRESS_QUEUE = "course.progress"
PROGRESS_LIMIT = 2000  # the queue keeps the newest records: a long workshop cannot fill the broker


def classroom():
    """The class's name when the course runs as a classroom, else None."""
    return env("COURSE_CLASSROOM") or None


def progress_record(check_name, args, ok, class_name, attendee):
    """The record of one check's outcome, as the class board reads it."""
    key = args[0] if args and isinstance(args[0], str) else None
    return {"class": class_name, "attendee": attendee, "check": check_name, "key": key, "ok": bool(ok),
            "time": time.time()}


def declare_progress_queue(channel):
    """The attendee's ``course.progress`` queue (it keeps the newest PROGRESS_LIMIT records)."""
    channel.queue_declare(PROGRESS_QUEUE, durable=True, arguments={"x-max-length": PROGRESS_LIMIT})


def record_progress(check_name, args, ok):
    """Publish one record of a check's outcome (see the module's docstring); never raises."""
    if not classroom():
        return
    from ..amqp import connect, publish

    record = progress_record(check_name, args, ok, classroom(), settings().user)
    try:
        with connect(room_amqp_url(), name="progress", timeout=2) as connection:
            channel = connection.channel()
            declare_progress_queue(channel)
            publish(channel, PROGRESS_QUEUE, record, persistent=True)
    except Exception:  # noqa: BLE001 - progress is for the instructor; the lesson goes on without it
        pass
