"""Background workers for lessons: start N worker processes, stop them, kill one mid-job.

Each worker is a real process (``helpers.worker``) that writes every event to a report file, so
``WorkerPool.report()`` can say which worker took which job, and ``account_for(jobs)`` can show
that every job was done, even after a worker was killed::

    jobs = make_jobs(12)
    publish_jobs(channel, "tasks", jobs)
    with WorkerPool("tasks", count=2) as pool:
        pool.wait_for_jobs(len(jobs), timeout=30)
    account_for(jobs, pool.report())

Introduced in lesson 03.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from .amqp import publish
from .errors import CourseError

# The guide's three operations, with their durations scaled down to tenths of a second.
OPERATIONS = [
    ("resize-image", {"image": "photos/cat.jpg", "size": "800x600"}, 0.3),
    ("send-email", {"to": "ada@example.com", "subject": "Welcome!"}, 0.2),
    ("generate-report", {"report": "sales-2026-11"}, 0.5),
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

    def __init__(self, queue, count=1, prefetch=1, ack="after-work", on_failure="requeue", speed=1.0, name="worker"):
        self.queue = queue
        self.options = ["--prefetch", str(prefetch), "--ack", ack, "--on-failure", on_failure, "--speed", str(speed)]
        self.report_dir = Path(tempfile.mkdtemp(prefix="course-workers-"))
        self.processes = {}
        self.name = name
        self.start(count)

    # -- processes ------------------------------------------------------------------------
    def start(self, count=1, ready_timeout=15.0):
        """Start ``count`` more workers and wait, with a limit, until each consumes."""
        names = []
        for _ in range(count):
            worker = f"{self.name}-{len(self.processes) + 1}"
            command = [sys.executable, "-m", "helpers.worker", "--queue", self.queue, "--name", worker,
                       "--report", str(self.report_dir / f"{worker}.jsonl"), *self.options]
            self.processes[worker] = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.PIPE, text=True)
            names.append(worker)
        stop_at = time.monotonic() + ready_timeout
        while not all(self._has_event(worker, "ready") for worker in names):
            for worker in names:
                process = self.processes[worker]
                if process.poll() is not None:
                    raise CourseError(f"{worker} stopped at once: {process.stderr.read().strip() or 'no message'}")
            if time.monotonic() > stop_at:
                raise CourseError(f"Workers did not start consuming within {ready_timeout:g} s.")
            time.sleep(0.05)
        return names

    def stop(self, timeout=10.0):
        """Ask every worker to stop after the job in hand (SIGTERM); end those that do not."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
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
        stop_at = time.monotonic() + timeout
        while time.monotonic() < stop_at:
            for worker, process in self.processes.items():
                if process.poll() is None:
                    in_hand = self.job_in_hand(worker)
                    if in_hand:
                        self.kill(worker)
                        return worker, in_hand
            time.sleep(0.02)
        raise CourseError(f"No worker was busy within {timeout:g} s: is there work in the queue?")

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
        """Every job event of every worker as a DataFrame: worker, event, job_id, task, redelivered, time."""
        records = [record for worker in self.processes for record in self._events(worker)
                   if record["event"] in ("started", "done", "failed")]
        columns = ["worker", "event", "job_id", "task", "redelivered", "time"]
        frame = pd.DataFrame(records, columns=columns)
        return frame.sort_values("time").reset_index(drop=True)

    def jobs_done(self):
        report = self.report()
        return report[report.event == "done"]

    def wait_for_jobs(self, count, timeout=30.0):
        """Wait until ``count`` jobs are done in all (a job done twice counts twice); return the time taken."""
        started = time.monotonic()
        while len(self.jobs_done()) < count:
            if time.monotonic() - started > timeout:
                raise CourseError(f"Only {len(self.jobs_done())} of {count} jobs were done within {timeout:g} s.")
            if not self.alive():
                raise CourseError(f"Every worker has stopped, with {len(self.jobs_done())} of {count} jobs done.")
            time.sleep(0.05)
        return time.monotonic() - started

    def jobs_per_worker(self):
        """How many jobs each worker finished, as a Series (workers that did none show 0)."""
        counts = self.jobs_done().groupby("worker").size()
        return counts.reindex(list(self.processes), fill_value=0).rename("jobs done")

    def cleanup(self):
        for path in self.report_dir.glob("*.jsonl"):
            path.unlink()
        os.rmdir(self.report_dir)


def account_for(jobs, report):
    """One row a job: how often it was started and done, and by whom. Every job should be done."""
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
    return pd.DataFrame(rows)
