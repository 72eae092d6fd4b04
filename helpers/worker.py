"""One background worker process, as ``helpers.workers`` starts it (not imported by lessons).

    python -m helpers.worker --queue tasks --name worker-1 --report REPORT.jsonl [options]

It takes jobs from a queue (JSON: ``job_id``, ``task``, ``duration`` in seconds, optional
``fail``), "does" each by sleeping its duration, acknowledges after the work and appends a line
to its report file for every event (``ready``, ``started``, ``done``, ``failed``), written
before it moves on, so a lesson can account for every job even when the worker is killed.
SIGTERM stops it after the job in hand; SIGKILL (``WorkerPool.kill``) stops it mid-job.

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
        report.write("started", **fields)
        time.sleep(float(job.get("duration", 0)) / args.speed)
        if job.get("fail"):
            report.write("failed", **fields)
            channel.basic_nack(method.delivery_tag, requeue=args.on_failure == "requeue")
            continue
        if args.ack == "after-work":
            channel.basic_ack(method.delivery_tag)
        report.write("done", **fields)
    try:
        channel.cancel()
        connection.close()
    except pika.exceptions.AMQPError:
        pass
    report.write("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
