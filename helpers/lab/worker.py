"""One background worker process, as ``helpers.lab.workers`` starts it (not imported by lessons).

    python -m helpers.lab.worker --queue tasks --name worker-1 --report REPORT.jsonl [--consume-file F] [options]

The worker runs a **consume function**: the lesson's own code, sent as source by
``WorkerPool(consume=...)``, or ``consume_jobs`` below when the lesson gives none. It has the
shape a learner writes at work::

    def consume(channel, queue, do_job):
        channel.basic_qos(prefetch_count=1)

        def on_message(ch, method, properties, body):
            do_job(body)                                     # the work
            ch.basic_ack(delivery_tag=method.delivery_tag)   # then the ack

        channel.basic_consume(queue=queue, on_message_callback=on_message)

``do_job(body)`` stands in for the work: it "does" a JSON job (``job_id``, ``task``,
``duration`` in seconds) by sleeping its duration, raises ``JobFailed`` for a job with
``"fail": true`` (and for one with ``"fail_times": N`` on its first N tries, counted across the
pool: a failure that passes, lesson 16), and appends a line to the report for every event (``consuming``, ``started``,
``done``, ``failed``, ...) before it moves on, so a lesson can account for every job even when a
worker is killed. ``consuming`` is written only once ``basic_consume`` has returned, that is once
the broker has confirmed the subscription. With ``--wait-for-go`` (as ``WorkerPool`` starts it)
the worker connects, reports ``connected``, and calls the consume function only once a line
``go`` arrives on its stdin, so that a pool's workers subscribe together. The worker then serves the connection until SIGTERM
(after the job in hand), its parent ends, or it was idle for ``--idle-limit`` seconds.

Lesson 05 adds ``--dedupe-file`` (a job whose id is in the file was done already: ``do_job``
reports ``duplicate`` and returns without doing it, so it is acknowledged, not redone) and
``--crash-after-work`` (die between the work and the ack); lesson 04 adds ``--consume-args``
(keyword arguments for the lesson's function, e.g. its prefetch) and reads the acks file (every
``basic_ack``/``basic_nack``/``basic_reject`` the function sent, with the delivery in hand); lesson 06 adds ``--reconnect`` (after a
lost connection, e.g. a broker restart, report ``disconnected``, connect again, run the consume
function again and go on, for a limited time).

Introduced in lesson 03.
"""

import argparse
import json
import os
import select
import signal
import sys
import time
from pathlib import Path

import pika

from ..amqp import connect
from ..errors import CourseError


class JobFailed(Exception):
    """Raised by ``do_job`` for a job whose work failed (a job with ``"fail": true``)."""


def consume_jobs(channel, queue, do_job, prefetch=1, ack=True, on_failure="requeue"):
    """The consume function a pool runs when the lesson gives none: the shape above, with
    ``prefetch`` (0 = no limit), ``ack=False`` (the bug of a worker that never acknowledges) and
    ``on_failure`` ("requeue" or "reject") as options."""
    channel.basic_qos(prefetch_count=prefetch)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:
            ch.basic_nack(delivery_tag=method.delivery_tag, requeue=on_failure == "requeue")
            return
        if ack:
            ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def job_id_of(body):
    """The ``job_id`` of a JSON job's body, or None (a body that is not a JSON object)."""
    try:
        job = json.loads(body)
    except ValueError:
        return None
    return job.get("job_id") if isinstance(job, dict) else None


def load_consume_function(path, name):
    """The lesson's consume function from the source file the pool wrote, with the names such a
    function may use without importing them."""
    namespace = {"__name__": "lesson_consumer", "JobFailed": JobFailed, "json": json, "pika": pika, "time": time}
    exec(compile(Path(path).read_text(), f"<consume function {name}>", "exec"), namespace)
    return namespace[name]


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


class Worker:
    """The state of one worker process: its options, report, and the delivery in hand."""

    def __init__(self, args, consume):
        self.args = args
        self.consume = consume
        self.consume_args = json.loads(args.consume_args) if getattr(args, "consume_args", None) else {}
        self.report = Report(args.report, args.name)
        self.done_ids = DoneIds(args.dedupe_file) if args.dedupe_file else None
        self.worked = []
        self.stopping = False
        self.delivery = None  # the method frame of the message being handled
        self.work_done = False  # do_job finished the delivery in hand
        self.acks = Report(Path(args.report).with_suffix(".acks.jsonl"), args.name)
        self.publishes = Report(Path(args.report).with_suffix(".publishes.jsonl"), args.name)
        self.job_in_hand = None  # the job id of the delivery being handled, if its body is a JSON job
        self.last_activity = time.monotonic()
        self.parent = os.getppid()

    def do_job(self, body):
        """The work of one job (see the module's docstring); returns the job as a dict."""
        job = json.loads(body)
        redelivered = bool(self.delivery.redelivered) if self.delivery is not None else False
        fields = {"job_id": job.get("job_id"), "task": job.get("task"), "redelivered": redelivered}
        if self.done_ids is not None and self.done_ids.seen(job.get("job_id")):
            self.report.write("duplicate", **fields)  # done before: the caller acknowledges it, not redoes it
            return job
        failed_before = self.failures_of(job.get("job_id")) if job.get("fail_times") else 0
        self.report.write("started", **fields)
        time.sleep(float(job.get("duration", 0)) / self.args.speed)
        if job.get("fail") or failed_before < int(job.get("fail_times", 0)):
            self.report.write("failed", **fields)
            raise JobFailed(f"{job.get('job_id')} failed")
        self.report.write("done", **fields)  # the work is done (even if the ack never reaches the broker)
        self.work_done = True
        if self.done_ids is not None:
            self.done_ids.remember(job.get("job_id"))
        self.worked.append(job.get("job_id"))
        if len(self.worked) == self.args.crash_after_work:
            os.kill(os.getpid(), signal.SIGKILL)  # dies after the work, before the ack
        return job

    def failures_of(self, job_id):
        """How often ``job_id`` has failed so far, in any worker of the pool (their reports share a folder)."""
        count = 0
        for path in Path(self.args.report).parent.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                if '"failed"' in line and line.endswith("}"):
                    record = json.loads(line)
                    count += record.get("event") == "failed" and record.get("job_id") == job_id
        return count

    def subscribe(self, channel):
        """Run the consume function on ``channel``; its callbacks are wrapped only to know which
        delivery is in hand and to hold back deliveries once the worker is stopping."""
        subscribed, prefetch, confirms = [], {}, []
        basic_consume, basic_qos, confirm_delivery = channel.basic_consume, channel.basic_qos, channel.confirm_delivery

        def observed_basic_qos(*args, **kwargs):
            prefetch["count"] = kwargs.get("prefetch_count", args[1] if len(args) > 1 else 0)
            return basic_qos(*args, **kwargs)

        def observed_confirm_delivery(*args, **kwargs):
            confirms.append(True)
            return confirm_delivery(*args, **kwargs)

        def observed_basic_consume(queue, on_message_callback, *args, **kwargs):
            def on_message(ch, method, properties, body):
                if self.stopping:
                    return  # not taken: it goes back to the queue when the channel closes
                self.delivery, self.last_activity, self.work_done = method, time.monotonic(), False
                self.job_in_hand = job_id_of(body)
                try:
                    on_message_callback(ch, method, properties, body)
                finally:
                    self.delivery, self.job_in_hand, self.last_activity = None, None, time.monotonic()

            tag = basic_consume(queue, on_message, *args, **kwargs)
            subscribed.append(queue)
            return tag

        channel.basic_consume, channel.basic_qos = observed_basic_consume, observed_basic_qos
        channel.confirm_delivery = observed_confirm_delivery
        self.record_acks(channel)
        self.consume(channel, self.args.queue, self.do_job, **self.consume_args)
        if not subscribed:
            raise CourseError("the consume function returned without calling channel.basic_consume(...)")
        self.report.write("consuming", queue=self.args.queue, prefetch=prefetch.get("count", 0), confirms=bool(confirms))

    def record_acks(self, channel):
        """Write every ack, nack and reject the consume function sends to the acks file (the report
        with ``.acks.jsonl``): its delivery tag, the delivery in hand (its tag and job id), and
        whether its work was done; and every basic_publish to the publishes file
        (``.publishes.jsonl``): exchange, routing key and headers, with the delivery in hand."""
        def in_hand():
            delivery = self.delivery
            return {"in_hand": delivery.delivery_tag if delivery is not None else None,
                    "work_done": self.work_done if delivery is not None else None, "job_in_hand": self.job_in_hand}

        def observed(kind, send):
            def answer(*args, **kwargs):
                tag = kwargs.get("delivery_tag", args[0] if args else 0)
                self.acks.write(kind, delivery_tag=tag, multiple=bool(kwargs.get("multiple", args[1] if len(args) > 1 else False)),
                                **in_hand())
                return send(*args, **kwargs)
            return answer

        for kind in ("ack", "nack", "reject"):
            setattr(channel, f"basic_{kind}", observed(kind, getattr(channel, f"basic_{kind}")))
        basic_publish = channel.basic_publish

        def observed_publish(exchange, routing_key, body, properties=None, mandatory=False):
            headers = dict(properties.headers or {}) if properties is not None else {}
            self.publishes.write("publish", exchange=exchange, routing_key=routing_key,
                                 headers={key: str(value) for key, value in headers.items()}, **in_hand())
            return basic_publish(exchange, routing_key, body, properties=properties, mandatory=mandatory)

        channel.basic_publish = observed_publish

    def should_stop(self):
        if self.stopping or os.getppid() != self.parent:  # asked to, or the lesson's kernel is gone
            return True
        idle_limit = self.args.idle_limit
        return bool(idle_limit) and time.monotonic() - self.last_activity > idle_limit

    def serve(self, connection):
        """Take and do jobs on one connection until asked to stop; a lost connection raises."""
        channel = connection.channel()
        self.subscribe(channel)
        while not self.should_stop():
            connection.process_data_events(time_limit=0.1)
        try:
            connection.close()  # jobs prefetched and not taken go back to the queue
        except pika.exceptions.AMQPError:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.worker")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--consume-file", help="a file with the lesson's consume function (WorkerPool writes it)")
    parser.add_argument("--consume-name", default="consume", help="the function's name in that file")
    parser.add_argument("--consume-args", help="JSON: keyword arguments for the lesson's consume function")
    parser.add_argument("--prefetch", type=int, default=1, help="for the default consume function: 0 means no limit")
    parser.add_argument("--ack", choices=["after-work", "never"], default="after-work",
                        help="for the default consume function: 'never' is the bug of a worker that forgets to acknowledge")
    parser.add_argument("--on-failure", choices=["requeue", "reject"], default="requeue",
                        help="for the default consume function: a failed job is nacked with requeue, or rejected without")
    parser.add_argument("--speed", type=float, default=1.0, help="durations are divided by this")
    parser.add_argument("--dedupe-file", help="file of done job ids shared by workers: a job already there is acked, not redone")
    parser.add_argument("--crash-after-work", type=int, default=0, metavar="N",
                        help="SIGKILL itself after the work of its Nth job, before acking it (0: never)")
    parser.add_argument("--reconnect", type=float, default=0, metavar="SECONDS",
                        help="after a lost connection, try to reconnect for this long (0: stop)")
    parser.add_argument("--wait-for-go", type=float, default=0, metavar="SECONDS",
                        help="once connected, report 'connected' and wait (this long at most) for a line on stdin before consuming")
    parser.add_argument("--idle-limit", type=float, default=600, metavar="SECONDS",
                        help="stop after this long without a job (0: never), so no worker outlives a forgotten lesson")
    args = parser.parse_args(argv)

    if args.consume_file:
        consume = load_consume_function(args.consume_file, args.consume_name)
    else:
        def consume(channel, queue, do_job):
            consume_jobs(channel, queue, do_job, prefetch=args.prefetch, ack=args.ack == "after-work",
                         on_failure=args.on_failure)
    worker = Worker(args, consume)
    signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(worker, "stopping", True))
    try:
        connection = connect(name=args.name)
    except CourseError as error:
        return fail(worker, error)
    if args.wait_for_go and not wait_for_go(worker, args.wait_for_go):
        worker.report.write("stopped")
        return 0
    give_up_at = seen_last = None
    while True:
        try:
            worker.serve(connection)
            break
        except pika.exceptions.AMQPError as error:  # the connection was lost, e.g. the broker restarted
            if not args.reconnect or worker.stopping:
                if worker.stopping:
                    break
                if isinstance(error, pika.exceptions.ChannelClosedByBroker):  # e.g. a queue nobody declared
                    return fail(worker, f"the broker closed its channel: {error.reply_text}")
                return fail(worker, f"lost its connection ({type(error).__name__})")
            worker.report.write("disconnected", reason=type(error).__name__)
            if give_up_at is None or worker.worked[-1:] != seen_last:
                give_up_at = time.monotonic() + args.reconnect  # a new window once jobs flowed again
            seen_last = worker.worked[-1:]
            connection = reconnect(args.name, give_up_at, worker)
            if connection is None:
                if worker.stopping:
                    break
                return fail(worker, f"could not reconnect within {args.reconnect:g} s")
        except Exception as error:  # the lesson's consume function failed: say so in one line
            return fail(worker, f"{type(error).__name__}: {error}")
    worker.report.write("stopped")
    return 0


def wait_for_go(worker, seconds):
    """Report "connected", then wait for the pool's go (a line on stdin). A pool starts its workers
    this way so that they all subscribe at the same moment: each process takes a second or more to
    start on a busy machine, and the first one would otherwise take the jobs meant for all. False
    if the pool closed stdin without a go, did not answer in time, or asked the worker to stop."""
    worker.report.write("connected")
    deadline = time.monotonic() + seconds
    while not worker.stopping and time.monotonic() < deadline:
        readable, _, _ = select.select([sys.stdin], [], [], 0.1)
        if readable:
            return sys.stdin.readline().strip() == "go"
    return False


def fail(worker, message):
    worker.report.write("error", message=str(message))
    print(message, file=sys.stderr)
    return 1


def reconnect(name, give_up_at, worker):
    """Try to connect every half second until ``give_up_at``; None if it never worked (or asked to stop)."""
    while not worker.stopping and time.monotonic() < give_up_at:
        try:
            return connect(name=name, timeout=2)
        except CourseError:
            time.sleep(0.5)
    return None


if __name__ == "__main__":
    sys.exit(main())
