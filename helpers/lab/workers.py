"""Background workers for lessons: start N worker processes, stop them, kill one mid-job.

Each worker is a real process (``helpers.lab.worker``) that runs the lesson's own consume function
(``basic_qos``, ``basic_consume``, ``basic_ack`` after the work) and writes every event to a
report file, so ``WorkerPool.report()`` can say which worker took which job, and
``account_for(jobs)`` can show that every job was done, even after a worker was killed::

    def consume(channel, queue, do_job):
        channel.basic_qos(prefetch_count=1)

        def on_message(ch, method, properties, body):
            do_job(body)
            ch.basic_ack(delivery_tag=method.delivery_tag)

        channel.basic_consume(queue=queue, on_message_callback=on_message)

    jobs = make_jobs(12)
    publish_jobs(channel, "tasks", jobs)
    with WorkerPool("tasks", count=2, consume=consume) as pool:
        pool.wait_for_jobs(len(jobs), timeout=30)
    account_for(jobs, pool.report())

The function is sent to the workers as source, so it must not use the notebook's other names
(``json``, ``pika``, ``time`` and ``JobFailed`` are there). Without ``consume=`` a pool runs
``helpers.lab.worker.consume_jobs``, the same shape, with ``prefetch``, ``ack`` and ``on_failure``.

Introduced in lesson 03.
"""

import inspect
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

from ..amqp import publish, queue_counts
from ..errors import CourseError
from ..waiting import wait_until
from .reports import reports_folder

# The guide's three operations, with their durations scaled down to tenths of a second.
OPERATIONS = [
    ("resize-image", {"image": "photos/cat.jpg", "size": "800x600"}, 0.3),
    ("send-email", {"to": "ada@example.com", "subject": "Welcome!"}, 0.2),
    ("generate-report", {"report": "sales-2026-11"}, 0.4),
]


def make_jobs(count, durations=None):
    """``count`` jobs cycling through the guide's operations, with ids job-001, job-002, ...

    ``durations`` (a list, cycled) replaces the operations' own durations in seconds.
    """
    jobs = []
    for number in range(count):
        task, payload, duration = OPERATIONS[number % len(OPERATIONS)]
        if durations is not None:
            duration = durations[number % len(durations)]
        jobs.append({"job_id": f"job-{number + 1:03d}", "task": task, "payload": payload, "duration": duration})
    return jobs


def publish_jobs(channel, queue, jobs):
    """Publish each job as a persistent JSON message to ``queue`` (through the default exchange)."""
    for job in jobs:
        publish(channel, queue, job, persistent=True)


class WorkerPool:
    """``count`` worker processes consuming ``queue``; a context manager that stops them on exit."""

    def __init__(self, queue, count=1, consume=None, prefetch=1, ack="after-work", on_failure="requeue", speed=1.0,
                 name="worker", dedupe=None, crash_after_work=0, reconnect=0, idle_limit=600, consume_args=None):
        """``consume``: the lesson's consume function ``(channel, queue, do_job)``; without it,
        ``prefetch``, ``ack`` and ``on_failure`` configure the built-in one. ``dedupe``: True (a
        done-ids file for this pool) or the ``dedupe_file`` of another pool to share;
        ``crash_after_work``: each worker dies after its Nth job's work, before the ack (both
        lesson 05). ``reconnect``: seconds a worker keeps trying after losing its connection, e.g.
        to a broker restart (lesson 06; 0 = it stops). ``idle_limit``: a worker with no job for
        this long stops by itself; every worker also stops when the lesson's kernel ends.
        ``consume_args``: keyword arguments (JSON values) the workers pass to ``consume``, e.g.
        ``{"prefetch": 3}`` for ``consume(channel, queue, do_job, prefetch)`` (lesson 04)."""
        self.queue = queue
        self.report_dir = Path(tempfile.mkdtemp(dir=reports_folder()))
        if consume is not None:
            source_file = self.report_dir / "consume.py"
            source_file.write_text(textwrap.dedent(inspect.getsource(consume)))
            self.options = ["--consume-file", str(source_file), "--consume-name", consume.__name__]
            if consume_args:
                self.options += ["--consume-args", json.dumps(consume_args)]
        else:
            self.options = ["--prefetch", str(prefetch), "--ack", ack, "--on-failure", on_failure]
        self.options += ["--speed", str(speed), "--idle-limit", str(idle_limit)]
        self.dedupe_file = None
        if dedupe:
            self.dedupe_file = self.report_dir / "done-ids.txt" if dedupe is True else Path(dedupe)
            self.options += ["--dedupe-file", str(self.dedupe_file)]
        if crash_after_work:
            self.options += ["--crash-after-work", str(crash_after_work)]
        if reconnect:
            self.options += ["--reconnect", str(reconnect)]
        self.processes = {}
        self.name = name
        self.start(count)

    # -- processes ------------------------------------------------------------------------
    def start(self, count=1, ready_timeout=15.0):
        """Start ``count`` more workers and wait, with a limit, until the broker has confirmed each
        one's subscription (the worker reports "consuming" once ``basic_consume`` returned).

        The workers subscribe together: each connects and waits; once all are connected the pool
        tells them to go. Started one by one, the first could take (and finish) the jobs meant for
        all before the last one's process had even started."""
        names = []
        for _ in range(count):
            worker = f"{self.name}-{len(self.processes) + 1}"
            command = [sys.executable, "-m", "helpers.lab.worker", "--queue", self.queue, "--name", worker,
                       "--report", str(self.report_dir / f"{worker}.jsonl"), "--wait-for-go", str(ready_timeout),
                       *self.options]
            with open(self.report_dir / f"{worker}.stderr", "w") as errors:  # a file: no pipe fills up unread
                self.processes[worker] = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                                          stderr=errors, text=True)
            names.append(worker)

        def all_have(event):
            return lambda: self.have_reported(names, event)

        try:
            wait_until(all_have("connected"), "the workers to connect", timeout=ready_timeout, interval=0.05)
            for worker in names:
                try:
                    self.processes[worker].stdin.write("go\n")
                    self.processes[worker].stdin.close()
                except BrokenPipeError:
                    pass  # it ended in between: the wait below says why
            wait_until(all_have("consuming"), "the workers to start consuming", timeout=ready_timeout, interval=0.05)
        except CourseError:
            self.stop()
            raise
        return names

    def have_reported(self, names, event):
        """True once every named worker has reported ``event``; a CourseError for one that
        stopped without reporting it. A worker may end once it has: lesson 05's crashing worker
        can take a job, do it and die between two looks."""
        for worker in names:
            stopped = self.processes[worker].poll() is not None  # read before its events
            if self._has_event(worker, event):
                continue
            if stopped:
                raise CourseError(f"{worker} stopped at once: {self.why_stopped(worker)}")
            return False
        return True

    def why_stopped(self, worker):
        """A stopped worker's own last word: its error event, else its stderr's last line."""
        errors = [record["message"] for record in self._events(worker) if record["event"] == "error"]
        if errors:
            return errors[-1]
        path = self.report_dir / f"{worker}.stderr"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1] if lines else "no message"

    def stop(self, timeout=10.0):
        """Ask every worker to stop after the job in hand (SIGTERM); end those that do not."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            if process.stdin and not process.stdin.closed:
                try:
                    process.stdin.close()  # a worker still waiting for its go ends without one
                except BrokenPipeError:
                    pass
        stop_at = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, stop_at - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def kill(self, worker):
        """SIGKILL one worker, as a crash would: no ack is sent for the job it was doing."""
        process = self.processes[worker]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)

    def kill_while_busy(self, timeout=10.0):
        """Wait until some worker is in the middle of a job, SIGKILL it; return (worker, job_id)."""
        def busy_worker():
            for worker, process in self.processes.items():
                in_hand = self.job_in_hand(worker) if process.poll() is None else None
                if in_hand:
                    return worker, in_hand
            return None

        worker, in_hand = wait_until(busy_worker, "a worker to be busy with a job (is there work in the queue?)",
                                     timeout=timeout, interval=0.02)
        self.kill(worker)
        return worker, in_hand

    def job_in_hand(self, worker):
        """The job a worker started and has not finished (None if idle)."""
        events = self._events(worker)
        if events and events[-1]["event"] == "started":
            return events[-1]["job_id"]
        return None

    def alive(self):
        return [worker for worker, process in self.processes.items() if process.poll() is None]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- what they did ----------------------------------------------------------------------
    def _events(self, worker):
        path = self.report_dir / f"{worker}.jsonl"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def _has_event(self, worker, event):
        return any(record["event"] == event for record in self._events(worker))

    def report(self):
        """Every job event of every worker as a DataFrame: worker, event, job_id, task, redelivered, time.

        Events: started, done, failed, and (with ``dedupe``, lesson 05) duplicate: a job already
        done, acknowledged without doing it again."""
        records = [record for worker in self.processes for record in self._events(worker)
                   if record["event"] in ("started", "done", "failed", "duplicate")]
        columns = ["worker", "event", "job_id", "task", "redelivered", "time"]
        frame = pd.DataFrame(records, columns=columns)
        return frame.sort_values("time").reset_index(drop=True)

    def acks(self):
        """Every ack, nack and reject the workers' consume function sent, as a DataFrame sorted by
        time: worker, kind, delivery_tag, multiple, in_hand (the tag of the delivery being handled,
        None outside a callback), work_done (whether do_job had finished it). Introduced in lesson 03."""
        records = []
        for worker in self.processes:
            path = self.report_dir / f"{worker}.acks.jsonl"
            lines = path.read_text().splitlines() if path.exists() else []
            for record in (json.loads(line) for line in lines if line.endswith("}")):
                records.append({**record, "kind": record["event"]})
        columns = ["worker", "kind", "delivery_tag", "multiple", "in_hand", "work_done", "job_in_hand", "time"]
        return pd.DataFrame(records, columns=columns).sort_values("time").reset_index(drop=True)

    def publishes(self):
        """Every basic_publish the workers' consume function made, as a DataFrame sorted by time:
        worker, exchange, routing_key, headers (as strings), in_hand and job_in_hand (the delivery
        being handled), work_done. Introduced in lesson 16 (a worker that publishes results and retries)."""
        records = []
        for worker in self.processes:
            path = self.report_dir / f"{worker}.publishes.jsonl"
            lines = path.read_text().splitlines() if path.exists() else []
            records += [json.loads(line) for line in lines if line.endswith("}")]
        columns = ["worker", "exchange", "routing_key", "headers", "in_hand", "job_in_hand", "work_done", "time"]
        return pd.DataFrame(records, columns=columns).sort_values("time").reset_index(drop=True)

    def jobs_done(self):
        report = self.report()
        return report[report.event == "done"]

    def wait_for_jobs(self, count, timeout=30.0, interval=0.05):
        """Wait until ``count`` jobs are done in all (a job done twice counts twice); return the time taken.

        The reports are read every ``interval`` seconds: with thousands of tiny jobs, a longer
        interval leaves the CPU to the workers (lesson 04)."""
        started = time.monotonic()
        done = [0]

        def enough_done():
            anyone_alive = bool(self.alive())  # read before the count: a worker that ends right after its last job is fine
            done[0] = len(self.jobs_done())
            if done[0] < count and not anyone_alive:
                raise CourseError(f"Every worker has stopped, with {done[0]} of {count} jobs done.")
            return done[0] >= count

        wait_until(enough_done, f"{count} jobs to be done", timeout=timeout, interval=interval,
                   seen=lambda: f"{done[0]} done")
        return time.monotonic() - started

    def jobs_per_worker(self):
        """How many jobs each worker finished, as a Series (workers that did none show 0)."""
        counts = self.jobs_done().groupby("worker").size()
        return counts.reindex(list(self.processes), fill_value=0).rename("jobs done")

    def busy_time(self):
        """Seconds each worker spent on jobs, as a Series (see ``busy_time``). Introduced in lesson 04."""
        return busy_time(self.report(), workers=list(self.processes))

    def span(self):
        """Seconds from the first job started to the last job done (see ``span``). Introduced in lesson 03."""
        return span(self.report())

    def wait_until_consuming(self, timeout=10.0):
        """Wait, with a limit, until the broker counts a consumer for every live worker on the queue.

        Publish after this call and the broker shares the jobs among all of them from the first
        one. Introduced in lesson 04.
        """
        from ..amqp import connect

        consumers = [0]
        with connect(name=f"{self.name}-pool") as connection:

            def all_subscribed():
                # The broker's own count (the management API lags by a second).
                found = queue_counts(self.queue, connection)
                consumers[0] = 0 if found is None else found.consumers
                return consumers[0] >= len(self.alive())

            wait_until(all_subscribed, f"every live worker to consume from '{self.queue}'", timeout=timeout,
                       interval=0.05, seen=lambda: f"{consumers[0]} consumer(s) of {len(self.alive())} workers")
        return consumers[0]

    def wait_until_reconnected(self, timeout=60.0):
        """Wait, with a limit, until every live worker that lost its connection has subscribed
        again (a "consuming" event after its last "disconnected"). Introduced in lesson 06."""
        waiting = []

        def all_back():
            waiting.clear()
            for worker in self.alive():
                kinds = [record["event"] for record in self._events(worker)]
                lost = max((i for i, kind in enumerate(kinds) if kind == "disconnected"), default=None)
                if lost is None or "consuming" not in kinds[lost:]:
                    waiting.append(worker)
            return not waiting

        wait_until(all_back, "every worker to subscribe again", timeout=timeout, interval=0.1,
                   seen=lambda: f"still waiting: {', '.join(waiting)}")

    def events(self, kinds=None):
        """Every event of every worker (also ready, disconnected, error...), or those of ``kinds``,
        as a DataFrame sorted by time. Introduced in lesson 06."""
        records = [record for worker in self.processes for record in self._events(worker)
                   if kinds is None or record["event"] in kinds]
        frame = pd.DataFrame(records, columns=sorted({key for record in records for key in record} | {"worker", "event", "time"}))
        return frame.sort_values("time").reset_index(drop=True)

    def done_ids(self):
        """The job ids in the pool's done-ids file (``dedupe``), in the order they were written. Lesson 05."""
        if self.dedupe_file is None or not self.dedupe_file.exists():
            return []
        return self.dedupe_file.read_text().split()

    def cleanup(self):
        """Remove this pool's reports now (they are removed anyway when the process ends)."""
        shutil.rmtree(self.report_dir, ignore_errors=True)


def account_for(jobs, report, duplicates=False):
    """One row a job: how often it was started and done, and by whom. Every job should be done.

    ``duplicates=True`` adds a column: how often a worker with ``dedupe`` recognised the job as
    done already and acknowledged it without doing it again (lesson 05).
    """
    rows = []
    for job in jobs:
        events = report[report.job_id == job["job_id"]]
        done = events[events.event == "done"]
        rows.append({
            "job_id": job["job_id"],
            "task": job["task"],
            "started": int((events.event == "started").sum()),
            "done": len(done),
            "done_by": ", ".join(done.worker),
            "redelivered": bool(events.redelivered.any()),
        })
        if duplicates:
            rows[-1]["duplicates_skipped"] = int((events.event == "duplicate").sum())
    return pd.DataFrame(rows)


def job_intervals(report):
    """One row a job a worker finished: worker, job_id, task, and when it started and ended, in
    seconds since the first job started. A job started and never finished (the worker was killed)
    has no row. Introduced in lesson 04.
    """
    rows = []
    started = {}
    origin = report.time[report.event == "started"].min() if not report.empty else 0.0
    for record in report.sort_values("time").itertuples(index=False):
        key = (record.worker, record.job_id)
        if record.event == "started":
            started[key] = record.time
        elif key in started:
            rows.append({"worker": record.worker, "job_id": record.job_id, "task": record.task,
                         "start": started.pop(key) - origin, "end": record.time - origin, "outcome": record.event})
    return pd.DataFrame(rows, columns=["worker", "job_id", "task", "start", "end", "outcome"])


def busy_time(report, workers=None):
    """Seconds each worker spent on jobs: each job's "done" (or "failed") time minus its "started"
    time, summed per worker, as a Series indexed by worker (``workers`` lists those to show even
    with nothing done). A job started and never finished (the worker was killed) is not counted.

    Introduced in lesson 04.
    """
    intervals = job_intervals(report)
    totals = (intervals.end - intervals.start).groupby(intervals.worker).sum()
    names = list(workers) if workers is not None else sorted(set(report.worker))
    return pd.Series({name: float(totals.get(name, 0.0)) for name in names}, dtype=float, name="busy time (s)")


def span(report):
    """Seconds from the first job "started" to the last job "done" in a report: the time the work
    took, without the workers' start-up. 0.0 when nothing was done.

    Introduced in lesson 03.
    """
    started = report.time[report.event == "started"]
    done = report.time[report.event == "done"]
    if started.empty or done.empty:
        return 0.0
    return float(done.max() - started.min())


def ideal_time(jobs, workers):
    """The shortest time ``workers`` can do ``jobs`` in: the larger of the total work shared
    evenly (total / workers) and the longest single job (a job is never split).

    Introduced in lesson 03 (total / workers); lesson 04 adds the longest job.
    """
    durations = [float(job["duration"]) for job in jobs]
    if not durations:
        return 0.0
    return max(sum(durations) / workers, max(durations))


def best_in_order_time(jobs, workers):
    """The time ``workers`` take when each job, in queue order, goes to the first free worker and
    nothing but the work itself takes time: what prefetch 1 comes close to. It can be longer than
    ``ideal_time``, when a long job comes last and no one can help with it.

    Introduced in lesson 04.
    """
    free_at = [0.0] * workers
    for job in jobs:
        soonest = free_at.index(min(free_at))
        free_at[soonest] += float(job["duration"])
    return max(free_at)


def wait_for_queued(channel, queue, count, timeout=10.0):
    """Wait, with a limit, until ``queue`` holds ``count`` ready messages, asking the broker itself
    (a passive declare: no lag, unlike the management API); return the count. Introduced in lesson 04.
    """
    ready = [None]

    def holds_count():
        found = queue_counts(queue, channel.connection)
        if found is None:
            raise CourseError(f"There is no queue named '{queue}'.")
        ready[0] = found.messages
        return ready[0] == count

    wait_until(holds_count, f"queue '{queue}' to hold {count} ready message(s)", timeout=timeout, interval=0.05,
               seen=lambda: f"{ready[0]} ready")
    return ready[0]


def waits_between_jobs(report):
    """Seconds each worker waited between finishing a job and starting its next one, one value a
    wait (a Series): with prefetch 1 each wait includes a round trip to the broker (the ack goes
    out, the next job comes back); with a larger prefetch the next job is often already there.

    Introduced in lesson 04.
    """
    waits = []
    for _, events in report.sort_values("time").groupby("worker"):
        finished = None
        for record in events.itertuples(index=False):
            if record.event == "started" and finished is not None:
                waits.append(record.time - finished)
            finished = record.time if record.event in ("done", "failed") else None
    return pd.Series(waits, dtype=float, name="wait (s)")
