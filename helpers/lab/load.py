"""A background load for live demos: publish jobs at a steady rate from a thread of its own.

    with BackgroundPublisher("tasks", make_jobs(60), rate=15) as publisher:
        ...  # watch the queue fill while it publishes
    publisher.published   # how many went out

The thread opens its own connection (a pika connection belongs to one thread), publishes each
job as ``publish_jobs`` does, and stops at the first of: every job sent, ``max_seconds`` gone,
or ``stop()``. Leaving the ``with`` block waits for it (bounded) and closes the connection.

Introduced in lesson 10.
"""

import threading
import time

from ..amqp import connect
from .workers import publish_jobs


class BackgroundPublisher:
    """Publishes ``jobs`` to ``queue`` at ``rate`` messages a second in a background thread."""

    def __init__(self, queue, jobs, rate=10.0, max_seconds=30.0, name="publisher"):
        self.queue = queue
        self.jobs = list(jobs)
        self.rate = rate
        self.max_seconds = max_seconds
        self.name = name
        self.published = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-thread", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        try:
            with connect(name=self.name) as connection:
                channel = connection.channel()
                started = time.monotonic()
                for number, job in enumerate(self.jobs):
                    if self._stop.is_set() or time.monotonic() - started > self.max_seconds:
                        break
                    publish_jobs(channel, self.queue, [job])
                    self.published += 1
                    # keep to the schedule (job n goes out at n / rate seconds)
                    self._stop.wait(max(0.0, started + (number + 1) / self.rate - time.monotonic()))
        except Exception as error:  # reported by join(), not lost in a thread
            self.error = error

    @property
    def done(self):
        return self._thread is not None and not self._thread.is_alive()

    def stop(self):
        self._stop.set()
        return self.join()

    def join(self, timeout=None):
        """Wait (at most ``timeout``, default ``max_seconds`` + 10 s) for the thread to end."""
        if self._thread is not None:
            self._thread.join(timeout=self.max_seconds + 10 if timeout is None else timeout)
        if self.error is not None:
            raise self.error
        return self.published

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.join()
