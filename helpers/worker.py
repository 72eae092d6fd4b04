"""One background worker process, as ``helpers.workers`` starts it (not imported by lessons).

    python -m helpers.worker --queue tasks --name worker-1 --report REPORT.jsonl [options]

It takes jobs from a queue (JSON: ``job_id``, ``task``, ``duration`` in seconds, optional
``fail``), "does" each by sleeping its duration, acknowledges after the work and appends a line
to its report file for every event (``ready``, ``started``, ``done``, ``failed``), written
before it moves on, so a lesson can account for every job even when the worker is killed.
SIGTERM stops it after the job in hand; SIGKILL (``WorkerPool.kill``) stops it mid-job.

Lesson 05 adds ``--dedupe-file`` (a job whose id is in the file was done already: it is
acknowledged, not done again, and reported ``duplicate``) and ``--crash-after-work`` (die between
the work and the ack); lesson 06 adds ``--reconnect`` (after a lost connection, e.g. a broker
restart, report ``disconnected``, connect again and go on, for a limited time).

Introduced in lesson 03.
"""

import argparse
import json
import os
import signal
import sys
import time

import pika

from .amqp import connect
from .errors import CourseError


class DoneIds:
    """Lesson 05: the ids of the jobs already done, one a line in a file that workers share.

    Checked before a job is done and written right after its work, before the ack: a job
    delivered again (its first worker died before acking) is then acknowledged, not redone.
    Appending one short line is atomic, so several workers can share the file.
    """

    def __init__(self, path):
        self.path = path
        open(path, "a").close()

    def seen(self, job_id):
        with open(self.path) as file:
            return job_id is not None and job_id in file.read().split()

    def remember(self, job_id):
        with open(self.path, "a") as file:
            file.write(f"{job_id}\n")


class Report:
    """Appends one JSON line per event; each line is flushed before the worker goes on."""

    def __init__(self, path, worker):
        self.file = open(path, "a", buffering=1)
        self.worker = worker

    def write(self, event, **fields):
        record = {"worker": self.worker, "pid": os.getpid(), "event": event, "time": time.time(), **fields}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.worker")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--prefetch", type=int, default=1, help="0 means no limit")
    parser.add_argument("--ack", choices=["after-work", "never"], default="after-work",
                        help="'never' is the bug of a worker that forgets to acknowledge")
    parser.add_argument("--on-failure", choices=["requeue", "reject"], default="requeue",
                        help="a failed job is nacked with requeue, or rejected without")
    parser.add_argument("--speed", type=float, default=1.0, help="durations are divided by this")
    parser.add_argument("--dedupe-file", help="file of done job ids shared by workers: a job already there is acked, not redone")
    parser.add_argument("--crash-after-work", type=int, default=0, metavar="N",
                        help="SIGKILL itself after the work of its Nth job, before acking it (0: never)")
    parser.add_argument("--reconnect", type=float, default=0, metavar="SECONDS",
                        help="after a lost connection, try to reconnect for this long (0: stop)")
    args = parser.parse_args(argv)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    report = Report(args.report, args.name)
    try:
        connection = connect(name=args.name)
    except CourseError as error:
        report.write("error", message=str(error))
        print(error, file=sys.stderr)
        return 1
    done_ids = DoneIds(args.dedupe_file) if args.dedupe_file else None
    worked = []
    give_up_at = seen_last = None
    while True:
        try:
            serve(connection, args, report, stopping, done_ids, worked)
            break
        except pika.exceptions.AMQPError as error:  # the connection was lost, e.g. the broker restarted
            if not args.reconnect:
                raise
            report.write("disconnected", reason=type(error).__name__)
            if give_up_at is None or worked[-1:] != seen_last:
                give_up_at = time.monotonic() + args.reconnect  # a new window once jobs flowed again
            seen_last = worked[-1:]
            connection = reconnect(args.name, give_up_at, stopping)
            if connection is None:
                if stopping:
                    break
                report.write("error", message=f"could not reconnect within {args.reconnect:g} s")
                return 1
    report.write("stopped")
    return 0


def serve(connection, args, report, stopping, done_ids, worked):
    """Take and do jobs on one connection until asked to stop; a lost connection raises."""
    channel = connection.channel()
    channel.basic_qos(prefetch_count=args.prefetch)
    report.write("ready", queue=args.queue, prefetch=args.prefetch)
    for method, properties, body in channel.consume(args.queue, inactivity_timeout=0.1):
        if stopping:
            break
        if method is None:
            continue
        job = json.loads(body)
        fields = {"job_id": job.get("job_id"), "task": job.get("task"), "redelivered": method.redelivered}
        if done_ids is not None and done_ids.seen(job.get("job_id")):
            report.write("duplicate", **fields)  # done before: acknowledge it without doing it again
            channel.basic_ack(method.delivery_tag)
            continue
        report.write("started", **fields)
        time.sleep(float(job.get("duration", 0)) / args.speed)
        if job.get("fail"):
            report.write("failed", **fields)
            channel.basic_nack(method.delivery_tag, requeue=args.on_failure == "requeue")
            continue
        report.write("done", **fields)  # the work is done (even if the ack below never reaches the broker)
        if done_ids is not None:
            done_ids.remember(job.get("job_id"))
        worked.append(job.get("job_id"))
        if len(worked) == args.crash_after_work:
            os.kill(os.getpid(), signal.SIGKILL)  # dies after the work, before the ack
        if args.ack == "after-work":
            channel.basic_ack(method.delivery_tag)
    try:
        channel.cancel()
        connection.close()
    except pika.exceptions.AMQPError:
        pass


def reconnect(name, give_up_at, stopping):
    """Try to connect every half second until ``give_up_at``; None if it never worked (or asked to stop)."""
    while not stopping and time.monotonic() < give_up_at:
        try:
            return connect(name=name, timeout=2)
        except CourseError:
            time.sleep(0.5)
    return None


if __name__ == "__main__":
    sys.exit(main())
