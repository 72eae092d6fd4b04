"""Recording a queue's depth and rates while something runs, from the management API.

    with QueueSampler(["tasks"]) as sampler:
        ...  # publish, start workers, wait
    frame = sampler.frame()   # one row a queue a sample

The sampler polls once a second (the broker refreshes its statistics as often; see
docker/rabbitmq.conf) in a background thread, and stops by itself after ``max_duration``.

Introduced in lesson 02 (the sampler in lesson 03).
"""

import threading
import time

import pandas as pd

from .errors import CourseError
from .management import management_api

SAMPLE_COLUMNS = ["seconds", "queue", "messages", "messages_ready", "messages_unacknowledged", "consumers",
                  "publish_rate", "deliver_rate", "ack_rate"]


def queue_sample(queue):
    """The figures of one queue (a dict from the management API), flattened to one row."""
    stats = queue.get("message_stats", {})
    return {
        "queue": queue["name"],
        "messages": queue.get("messages", 0),
        "messages_ready": queue.get("messages_ready", 0),
        "messages_unacknowledged": queue.get("messages_unacknowledged", 0),
        "consumers": queue.get("consumers", 0),
        "publish_rate": stats.get("publish_details", {}).get("rate", 0.0),
        "deliver_rate": stats.get("deliver_get_details", {}).get("rate", 0.0),
        "ack_rate": stats.get("ack_details", {}).get("rate", 0.0),
    }


class Poller:
    """What a sampler and a probe share: ``poll()`` every ``interval`` seconds in a background
    thread, from ``start()`` until ``stop()`` or for at most ``max_duration``; ``rows`` become a
    DataFrame of ``columns``. ``start(started=...)`` shares another one's clock."""

    name = "poller"
    columns = []

    def __init__(self, queues, interval, max_duration):
        self.queues = [queues] if isinstance(queues, str) else list(queues)
        self.interval = interval
        self.max_duration = max_duration
        self.rows = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = None

    def start(self, started=None):
        self.started = time.monotonic() if started is None else started
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        self._poll_until_stopped(self.poll)

    def _poll_until_stopped(self, poll):
        while not self._stop.is_set() and time.monotonic() - self.started < self.max_duration:
            tick = time.monotonic()
            poll()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - tick)))

    def poll(self):
        raise NotImplementedError

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def frame(self):
        """The rows as a DataFrame: one row a queue a reading, ``seconds`` since the start."""
        return pd.DataFrame(list(self.rows), columns=self.columns)


class QueueSampler(Poller):
    """Samples queues from the management API every ``interval`` seconds in a background thread,
    for at most ``max_duration``."""

    name = "queue-sampler"
    columns = SAMPLE_COLUMNS

    def __init__(self, queues, interval=1.0, max_duration=120.0):
        super().__init__(queues, interval, max_duration)
        self.api = management_api(timeout=min(5.0, max(1.0, interval * 2)))

    def sample_now(self):
        """Take one sample of every queue now (a queue that does not exist yet is skipped)."""
        seconds = round(time.monotonic() - self.started, 2)
        for name in self.queues:
            try:
                self.rows.append({"seconds": seconds, **queue_sample(self.api.queue(name))})
            except CourseError as error:
                self.errors.append(str(error))

    poll = sample_now

    def stop(self):
        super().stop()
        self.sample_now()  # the last moment, so a chart ends where the run ended
        return self


DEPTH_COLUMNS = ["seconds", "queue", "messages_ready", "consumers"]


class DepthProbe(Poller):
    """Reads queues' depth over AMQP every ``interval`` seconds (5 times a second by default), in
    a background thread with a connection of its own, for at most ``max_duration``.

    A passive ``queue_declare`` answers at once with the queue's ready messages and consumers as
    the broker has them now, while the management API's figures are statistics that run a
    second or more behind. It knows nothing of rates or unacknowledged messages: those still
    come from the API (QueueSampler). ``start(started=...)`` shares another sampler's clock. After
    a lost connection (a broker restart, lesson 16) it connects again until it is stopped.

    Introduced in lesson 10 (the live chart's depth line).
    """

    name = "depth-probe"
    columns = DEPTH_COLUMNS

    def __init__(self, queues, interval=0.2, max_duration=120.0):
        super().__init__(queues, interval, max_duration)
        self._connection = self._channel = None

    def _run(self):
        import pika.exceptions

        from .amqp import connect

        while not self._stop.is_set() and time.monotonic() - self.started < self.max_duration:
            try:
                with connect(name="depth-probe", timeout=2) as connection:
                    self._connection, self._channel = connection, connection.channel()
                    self._poll_until_stopped(self.poll)
                return
            except (CourseError, pika.exceptions.AMQPError) as error:  # e.g. a broker restart (lesson 16): try again
                self.errors.append(f"the depth probe lost the broker: {type(error).__name__} {error}")
                self._stop.wait(0.5)

    def poll(self):
        import pika.exceptions

        for name in self.queues:
            try:
                declared = self._channel.queue_declare(queue=name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as error:  # 404: not declared yet
                self.errors.append(f"{name}: {error.reply_text}")
                self._channel = self._connection.channel()
                continue
            self.rows.append({"seconds": round(time.monotonic() - self.started, 3), "queue": name,
                              "messages_ready": declared.message_count, "consumers": declared.consumer_count})
