"""`celery worker` processes started and stopped by a lesson (lesson 15).

    worker = CeleryWorker("worker-1", settings={"worker_prefetch_multiplier": 1})
    worker.command        # the command line it ran, to show
    worker.kill_pool_process()   # SIGKILL the process doing a task, as an out-of-memory kill would
    worker.stop()

A worker runs the app of ``scripts/celery_tasks.py`` from the lesson's folder (``notebooks/`` or
the workshop edition's), with the settings given here applied on top of the app's own. It stops
when ``stop`` is called, when the ``with`` block ends, and when the lesson's kernel ends,
however it ends: nothing is left running. Every wait has a limit.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import celery.exceptions
import pandas as pd
import requests

from ..amqp import connect, queue_counts
from ..errors import CourseError
from ..ops.processes import is_alive, stop, stop_with_owner
from ..waiting import wait_until
from .reports import reports_folder

APP = "scripts.celery_tasks"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def lesson_folder():
    """The folder whose ``scripts/celery_tasks.py`` the workers run: the current one when it has
    it (a lesson's kernel runs in its notebook's folder), else the course's ``notebooks/``."""
    return Path.cwd() if (Path.cwd() / "scripts" / "celery_tasks.py").exists() else NOTEBOOKS


class CeleryWorker:
    """One ``celery worker`` node: ``concurrency`` pool processes taking tasks from ``queues``.

    A worker of a name this process still runs (a cell interrupted before it stopped its worker,
    then run again) is stopped before the new one starts: one node of a name at a time, so no
    forgotten worker takes the jobs a lesson counts."""

    running = {}   # name -> the CeleryWorker of that name this process started last

    def __init__(self, name, settings=None, queues=("celery",), concurrency=1, events=False, ready_timeout=30.0):
        self.name = f"{name}@course"
        earlier = CeleryWorker.running.get(self.name)
        if earlier is not None and earlier.alive():
            earlier.stop()
        self.settings = dict(settings or {})
        self.command = ["celery", "-A", APP, "worker", "--hostname", self.name, "--concurrency", str(concurrency),
                        "--queues", ",".join(queues), "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                        *(["--task-events"] if events else [])]
        handle, log_file = tempfile.mkstemp(prefix=f"celery-{name}-", suffix=".log", dir=reports_folder())
        os.close(handle)
        self.log_file = Path(log_file)
        environment = {**os.environ, "COURSE_CELERY_SETTINGS": json.dumps(self.settings)}
        celery = Path(sys.executable).with_name("celery")
        with open(self.log_file, "w") as log:  # a file: no pipe fills up unread
            self.process = subprocess.Popen([str(celery), *self.command[1:]], cwd=lesson_folder(), env=environment,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        stop_with_owner(os.getpid(), self.process.pid, b"celery", group=True)
        CeleryWorker.running[self.name] = self
        try:
            wait_until(self._ready, f"Celery worker {self.name} to be ready", timeout=ready_timeout, interval=0.1)
        except CourseError:
            self.stop()
            raise

    def _ready(self):
        if self.process.poll() is not None:
            raise CourseError(f"Celery worker {self.name} stopped at start: {self.last_line()}")
        return f"{self.name} ready." in self.log()

    def log(self):
        return self.log_file.read_text(errors="replace")

    def last_line(self):
        lines = [line for line in self.log().splitlines() if line.strip()]
        return lines[-1].strip() if lines else "it printed nothing"

    @property
    def command_line(self):
        return " ".join(self.command)

    # -- its processes ---------------------------------------------------------------------------
    @property
    def pid(self):
        return self.process.pid

    def pool_pids(self):
        """The pool's processes (the worker's children that run the tasks)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.pid and fields[0] != "Z":
                children.append(int(stat.parent.name))
        return sorted(children)

    def kill_pool_process(self, pid=None):
        """SIGKILL the pool process ``pid`` (the one doing a task), as the kernel's out-of-memory
        killer would; the worker itself lives on and starts another."""
        pid = pid or self.pool_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=10.0):
        """Stop the worker and its pool (SIGTERM: a warm shutdown that lets a task end; SIGKILL
        after ``timeout`` s)."""
        if self.alive():
            stop(self.pid, lambda: is_alive(self.pid), timeout=timeout, group=True)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # a pool process that outlived its parent
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Flower:
    """Flower, Celery's own web monitor, as a process of its own on ``127.0.0.1:port`` (the
    management port + 2000 by default: 17672 beside 15672), stopped like a worker. It reads the
    workers' events from the broker (``celeryev``); its HTTP API answers without a login here,
    for the lesson to read (``FLOWER_UNAUTHENTICATED_API``), on loopback only."""

    def __init__(self, port=None, ready_timeout=30.0):
        from ..config import settings
        from ..ops.broker import port_is_open

        self.port = port or settings().management_port + 2000
        self.url = f"http://127.0.0.1:{self.port}"
        if port_is_open("127.0.0.1", self.port, timeout=0.5):
            raise CourseError(f"Port {self.port} is in use by another program, so Flower cannot start there "
                              f"(a Flower left running? See which with: ss -ltnp 'sport = :{self.port}').")
        handle, log_file = tempfile.mkstemp(prefix="flower-", suffix=".log", dir=reports_folder())
        os.close(handle)
        self.log_file = Path(log_file)
        self.command = ["celery", "-A", APP, "flower", "--address=127.0.0.1", f"--port={self.port}"]
        environment = {**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}
        with open(self.log_file, "w") as log:
            self.process = subprocess.Popen([str(Path(sys.executable).with_name("celery")), *self.command[1:]],
                                            cwd=lesson_folder(), env=environment, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stop_with_owner(os.getpid(), self.process.pid, b"flower", group=True)
        try:
            wait_until(self._ready, f"Flower to answer on {self.url}", timeout=ready_timeout, interval=0.2)
        except CourseError:
            self.stop()
            raise

    def _ready(self):
        if self.process.poll() is not None:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
            raise CourseError(f"Flower stopped at start: {lines[-1].strip() if lines else 'it printed nothing'}")
        try:
            return requests.get(f"{self.url}/healthcheck", timeout=1).ok
        except requests.RequestException:
            return False

    def get(self, path, **params):
        """What Flower's API answers at ``/api/<path>`` (e.g. ``tasks``, ``workers``), decoded."""
        response = requests.get(f"{self.url}/api/{path}", params=params or None, timeout=10)
        response.raise_for_status()
        return response.json()

    def tasks(self):
        """The tasks Flower has seen, one row each: name, state, worker, runtime (s), args."""
        rows = [{"task": task.get("name"), "state": task.get("state"), "worker": task.get("worker"),
                 "runtime": task.get("runtime"), "args": task.get("args"), "uuid": uuid}
                for uuid, task in self.get("tasks").items()]
        return pd.DataFrame(rows, columns=["task", "state", "worker", "runtime", "args", "uuid"])

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=10.0):
        if self.alive():
            stop(self.process.pid, lambda: is_alive(self.process.pid), timeout=timeout, group=True)
        self.process.wait(timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def tasks_module():
    """``scripts/celery_tasks.py`` of the lesson's folder, imported (the app and its tasks)."""
    folder = str(lesson_folder())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(APP)


def outcome(result, timeout):
    """What became of a job sent to Celery: "done", "failed: <error>", or "no answer" (nothing came
    back within ``timeout`` s: its message was dropped, or still waits)."""
    try:
        result.get(timeout=timeout, propagate=True)
        return "done"
    except celery.exceptions.TimeoutError:
        return "no answer"
    except Exception as error:  # noqa: BLE001 - the task's own error, brought back by Celery
        return f"failed: {type(error).__name__}"


class TaskEvents:
    """The task events that workers started with ``events=True`` send (``task-received``,
    ``task-started``, ``task-succeeded``, ``task-failed``, ...), read from the exchange
    ``celeryev`` as monitors such as Flower read them, on a queue of this reader's own."""

    def __init__(self, channel):
        self.channel = channel
        channel.exchange_declare("celeryev", "topic", durable=True)   # as Celery declares it
        self.queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(self.queue, "celeryev", routing_key="task.#")
        self.seen = []

    def read(self):
        """Take the events that have come since the last read; return all seen so far."""
        while True:
            _, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if body is None:
                return self.seen
            decoded = json.loads(body)   # Celery sends them in groups, as a list (key ``task.multi``)
            self.seen.extend(decoded if isinstance(decoded, list) else [decoded])

    def count(self, kind, task_id):
        """How many ``kind`` events have come for the task ``task_id``."""
        return sum(event.get("type") == kind and event.get("uuid") == task_id for event in self.read())


def crash_drill(settings, queue="celery", jobs=3, seconds=1.5, watch=0.5, wait=10.0):
    """Start a worker with ``settings`` (one pool process), send ``jobs`` reports of ``seconds``
    each to ``queue``, SIGKILL the pool process in the middle of the first, and count.

    The kill comes once the worker has announced that the first job started (its ``task-started``
    event) and ``watch`` s have passed, so it always falls in the middle of the work. During those
    ``watch`` s the drill reads the queue's ready messages from the broker: the fewest it saw is
    how many jobs the worker left for others while it worked (``jobs - 1`` with fair dispatch, 0
    when it had taken them all). The worker is stopped once it has said
    it is finished with every job (a ``task-succeeded`` or ``task-failed`` event, sent after it
    acknowledged or rejected the job's message). Returns a dict: the pid killed, each job's
    outcome ("done", "failed: WorkerLostError", "no answer"), how many times each job was
    started, the ready messages while the first job ran, and the messages left in the queue once
    the worker stopped."""
    tasks = tasks_module()
    with connect(name="celery-drill") as connection, \
            CeleryWorker("drill", settings=settings, queues=[queue], events=True) as worker:
        events = TaskEvents(connection.channel())
        sent = [tasks.generate_report.apply_async((f"report-{n + 1}",), {"seconds": seconds}, queue=queue)
                for n in range(jobs)]
        wait_until(lambda: events.count("task-started", sent[0].id), "the worker to start the first job",
                   timeout=wait, interval=0.02)
        watched_until, left_for_others = time.monotonic() + watch, jobs
        while time.monotonic() < watched_until:
            left_for_others = min(left_for_others, queue_counts(queue, connection).messages)
            time.sleep(0.05)
        killed = worker.kill_pool_process()
        outcomes = [outcome(result, timeout=wait if n == 0 else wait / 2) for n, result in enumerate(sent)]
        wait_until(lambda: all(events.count("task-succeeded", result.id) + events.count("task-failed", result.id)
                               for result, said in zip(sent, outcomes) if said != "no answer"),
                   "the worker to be finished with every job it answered", timeout=wait)
        starts = [events.count("task-started", result.id) for result in sent]
    return {"killed pid": killed, "outcomes": outcomes, "times started": starts,
            "queued while the first ran": left_for_others, "still queued": queue_counts(queue).messages}
