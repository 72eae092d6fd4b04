"""Failures handled: dead-letter exchanges, the ``x-death`` header, retries with backoff, parking lots.

A queue declared with ``x-dead-letter-exchange`` republishes a message to that exchange instead
of dropping it when it is rejected without requeue, expires (TTL), is pushed out by a length
limit, or (quorum queues) was delivered more often than ``x-delivery-limit``. The broker adds an
``x-death`` header that says why (``reason``), from which queue and how often (``count``).

    declare_with_dead_letters(channel, "orders", dlq="dead-letters", dlx="dlx")
    ...
    dead_letter_table(drain(channel, "dead-letters"))      # one row a message: reason, queue, count

Retries with growing delays use TTL "wait" queues that dead-letter back to the work queue; after
the last one a job is parked in a parking-lot queue, and ``replay`` moves it back once the cause
is fixed::

    emails = RetryTopology("emails", delays=[0.2, 0.5, 1.0])
    emails.declare(channel)
    attempts = process_with_retries(channel, emails, retry_handler(emails, send_email), jobs=3)
    replay(channel, emails.parking_lot, emails.work)

The course reads ``x-death`` defensively: its fields differ a little between RabbitMQ 3.10, 3.13
and 4.x, and a retry count is kept in the course's own ``attempts`` header rather than in
``x-death`` (whose ``count`` a republished copy does not carry forward on every version).

Introduced in lesson 09.
"""

import json
import time
import uuid
from dataclasses import dataclass, field

import pandas as pd
import pika
import pika.exceptions

from ..amqp import declare_queue, deliveries, publish, queue_counts
from ..errors import CourseError
from ..management import management_api
from ..waiting import poll

DEATH_COLUMNS = ["message", "reason", "queue", "count", "exchange", "routing_keys", "original_expiration"]

# Headers that belong to the broker or to one round of retries: a replayed message starts afresh.
RETRY_HEADERS = ("attempts", "error")


def declare_with_dead_letters(channel, queue, dlq, dlx="dlx", arguments=None):
    """Declare ``queue`` so that its dead letters go to the queue ``dlq``; return ``queue``.

    With a ``dlx`` name, a durable fanout exchange of that name is declared and ``dlq`` bound to
    it (several work queues can share one dead-letter exchange and queue). With ``dlx=""`` the
    default exchange is used, with ``x-dead-letter-routing-key`` set to ``dlq``. Extra
    ``arguments`` (``x-message-ttl``, ``x-max-length``, ``x-queue-type``...) are added to the
    work queue's. Introduced in lesson 09.
    """
    declare_queue(channel, dlq, durable=True)
    dead_letter_arguments = {"x-dead-letter-exchange": dlx}
    if dlx:
        channel.exchange_declare(dlx, "fanout", durable=True)
        channel.queue_bind(dlq, dlx)
    else:
        dead_letter_arguments["x-dead-letter-routing-key"] = dlq
    return declare_queue(channel, queue, durable=True, arguments={**dead_letter_arguments, **(arguments or {})})


def _plain(value):
    """pika's table values (its ``long`` ints, bytes) as plain Python values."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def x_death(headers):
    """The ``x-death`` entries of a message's headers, most recent first (``[]`` if it never died).

    Each entry is a dict with ``reason`` (rejected, expired, maxlen, delivery_limit), ``queue``,
    ``count``, ``exchange``, ``routing-keys`` and, for a per-message TTL, ``original-expiration``.
    Introduced in lesson 09.
    """
    entries = (headers or {}).get("x-death") or []
    return [_plain(entry) for entry in entries if isinstance(entry, dict)]


def death_row(message):
    """One row for a dead-lettered message: its text and why, where and how often it died.

    ``message`` is a ``helpers.amqp.Message`` or a dict from ``peek``. Fields missing on a broker
    version come out empty rather than failing. Introduced in lesson 09.
    """
    if isinstance(message, dict):
        text, headers = message.get("text", ""), message.get("headers", {})
    else:
        text, headers = message.text, message.headers
    entries = x_death(headers)
    latest = entries[0] if entries else {}
    return {
        "message": text,
        "reason": latest.get("reason", ""),
        "queue": latest.get("queue", ""),
        "count": int(latest.get("count", 0) or 0),
        "exchange": latest.get("exchange", ""),
        "routing_keys": ", ".join(str(key) for key in latest.get("routing-keys", [])),
        "original_expiration": str(latest.get("original-expiration", "")),
    }


def dead_letter_table(messages):
    """A DataFrame of ``death_row`` for each message, in the order given. Introduced in lesson 09."""
    return pd.DataFrame([death_row(message) for message in messages], columns=DEATH_COLUMNS)


def queue_arguments(names, keys=None):
    """The arguments each queue was declared with, read back from the broker: one row a queue.

    ``keys`` chooses the columns (default: every argument seen; newer brokers may add some of
    their own, such as ``x-queue-type``). An argument a queue does not have shows empty.
    Introduced in lesson 09.
    """
    api = management_api()
    found = {name: api.queue(name).get("arguments", {}) or {} for name in names}
    keys = list(keys) if keys is not None else sorted({key for arguments in found.values() for key in arguments})
    rows = [{"queue": name, **{key: arguments.get(key, "") for key in keys}} for name, arguments in found.items()]
    return pd.DataFrame(rows, columns=["queue", *keys])


def peek(queue, count=100):
    """The messages at the head of ``queue`` without taking them (``ManagementAPI.peek`` on the
    course's broker): dicts with ``text``, ``headers``, ``routing_key``, ``delivery_mode``...

    The broker puts them back where they were (they come back marked redelivered). For looking,
    in lessons and checks; a program consumes. Introduced in lesson 09.
    """
    return management_api().peek(queue, count)


# -- retries with backoff -----------------------------------------------------------------------
@dataclass
class RetryTopology:
    """A work queue, one TTL "wait" queue a retry delay, and a parking lot.

    A failed job is published to the wait queue of its retry; that queue has no consumer, and its
    ``x-message-ttl`` dead-letters the job back to the work queue when the delay is over. After
    the last delay a failing job goes to the parking lot, where it waits for a person.
    Introduced in lesson 09.
    """

    work: str
    delays: list = field(default_factory=lambda: [0.2, 0.5, 1.0])
    parking_lot: str = ""

    def __post_init__(self):
        self.delays = [float(delay) for delay in self.delays]
        if sorted(self.delays) != self.delays or not self.delays or self.delays[0] <= 0:
            raise CourseError(f"Retry delays should be positive and growing, not {self.delays}.")
        self.parking_lot = self.parking_lot or f"{self.work}.parking-lot"

    @property
    def wait_queues(self):
        """One name a delay, e.g. ``emails.wait-200ms``."""
        return [f"{self.work}.wait-{round(delay * 1000)}ms" for delay in self.delays]

    @property
    def queues(self):
        return [self.work, *self.wait_queues, self.parking_lot]

    @property
    def max_attempts(self):
        """The first try plus one retry a delay."""
        return len(self.delays) + 1

    def declare(self, channel):
        """Declare the work queue, the wait queues (TTL, dead-lettering to the work queue) and the parking lot."""
        declare_queue(channel, self.work, durable=True)
        for name, delay in zip(self.wait_queues, self.delays):
            arguments = {"x-message-ttl": round(delay * 1000), "x-dead-letter-exchange": "",
                         "x-dead-letter-routing-key": self.work}
            declare_queue(channel, name, durable=True, arguments=arguments)
        declare_queue(channel, self.parking_lot, durable=True)
        return self

    def arguments(self):
        """The wait queues' arguments as a table, to show what was declared."""
        rows = [{"queue": name, "x-message-ttl (ms)": round(delay * 1000), "dead-letters to": self.work}
                for name, delay in zip(self.wait_queues, self.delays)]
        return pd.DataFrame(rows)


ATTEMPT_COLUMNS = ["job_id", "attempt", "seconds", "came_from", "outcome", "error"]


def retry_handler(topology, handler):
    """The retry-or-park consumer code of lesson 09 as a function of one delivery, for a job
    function ``handler(job)`` that raises to fail: on failure the message is published to the
    wait queue of its next retry with the header ``attempts`` (or to the parking lot after
    ``topology.max_attempts``), and only then acknowledged. On a channel with publisher confirms
    (as lesson 09's worker has), that publish returns once the broker has the copy, so the job is
    never lost. Returns ``(outcome, error)``. The lesson writes the same code in its own cell."""

    def retry_or_park(channel, method, properties, body):
        headers = dict(properties.headers or {})
        attempt = int(headers.get("attempts", 0)) + 1
        try:
            handler(json.loads(body))
            outcome, error = "done", ""
        except Exception as failure:  # a job's failure, whatever it is, is handled the same way
            error = f"{type(failure).__name__}: {failure}"
            if attempt <= len(topology.delays):
                destination, outcome = topology.wait_queues[attempt - 1], f"retry in {topology.delays[attempt - 1]:g} s"
            else:
                destination, outcome = topology.parking_lot, "parked"
            retry_headers = {key: value for key, value in headers.items() if not key.startswith("x-")}
            channel.basic_publish(exchange="", routing_key=destination, body=body, properties=pika.BasicProperties(
                headers={**retry_headers, "attempts": attempt, "error": error}, delivery_mode=pika.DeliveryMode.Persistent,
                content_type=properties.content_type, message_id=properties.message_id))
        channel.basic_ack(delivery_tag=method.delivery_tag)
        return outcome, error

    return retry_or_park


def process_with_retries(channel, topology, handle, jobs, deadline=30.0):
    """Consume ``topology.work`` until ``jobs`` jobs are finished (done or parked); return every attempt.

    ``handle(channel, method, properties, body)`` is the consumer's code for one delivery (lesson
    09 writes it in a cell; ``retry_handler`` makes the same from a job function): it does the
    job, retries or parks it, acknowledges it, and returns ``(outcome, error)``. This function
    only delivers, records and stops: at ``deadline`` seconds in any case. The result has one row
    an attempt: ``job_id``, ``attempt``, ``seconds`` since the first, ``came_from`` (the wait
    queue it came back from, read from ``x-death``), ``outcome`` (done / retry in N s / parked)
    and ``error``. Introduced in lesson 09.
    """
    records, finished = [], set()
    started = time.monotonic()
    for method, properties, body in deliveries(channel, topology.work, deadline=deadline):
        headers = dict(properties.headers or {})
        deaths = x_death(headers)
        if deaths:
            came_from = f"{deaths[0].get('queue', '')} ({deaths[0].get('reason', '')})"
        else:
            came_from = "replayed" if headers.get("replayed") else "publisher"
        job = json.loads(body)
        record = {"job_id": job.get("job_id", ""), "attempt": int(headers.get("attempts", 0)) + 1,
                  "seconds": time.monotonic() - started, "came_from": came_from}
        record["outcome"], record["error"] = handle(channel, method, properties, body)
        records.append(record)
        if record["outcome"] in ("done", "parked"):
            finished.add(record["job_id"])
        if len(finished) >= jobs:
            break
    return pd.DataFrame(records, columns=ATTEMPT_COLUMNS)


def attempt_timeline(attempts, job_id, topology):
    """One job's attempts: when each started, the delay planned before it and the gap measured.

    Columns: ``attempt``, ``planned delay (s)``, ``at (s)`` since its first attempt, ``gap (s)``
    since the previous one, ``outcome``. Introduced in lesson 09.
    """
    rows = attempts[attempts.job_id == job_id].sort_values("attempt")
    first = rows["seconds"].iloc[0] if len(rows) else 0.0
    timeline = pd.DataFrame({
        "attempt": rows["attempt"].to_numpy(),
        "planned delay (s)": [0.0 if n == 1 else topology.delays[n - 2] for n in rows["attempt"]],
        "at (s)": (rows["seconds"] - first).round(2).to_numpy(),
        "gap (s)": rows["seconds"].diff().fillna(0.0).round(2).to_numpy(),
        "outcome": rows["outcome"].to_numpy(),
    })
    return timeline


def replay(channel, parking_lot, to_queue, exchange=""):
    """Move every message now in ``parking_lot`` to ``to_queue``; return how many were moved.

    Each message is published again (through ``exchange``, default: straight to the queue) with
    publisher confirms, and taken out of the parking lot only after the broker confirmed the
    copy, so a failure half way loses nothing. The retry headers (``attempts``, ``error``) and the
    broker's ``x-`` headers are dropped: a replayed job starts afresh. Only the messages there at
    the start are moved, so a replay always ends. Introduced in lesson 09.
    """
    counts = queue_counts(parking_lot, channel.connection)
    if counts is None:
        raise CourseError(f"There is no queue named '{parking_lot}' to replay from.")
    waiting = counts.messages
    mover = channel.connection.channel()
    try:
        mover.confirm_delivery()
        moved = 0
        for _ in range(waiting):
            method, properties, body = mover.basic_get(parking_lot)
            if method is None:
                break
            headers = {key: value for key, value in (properties.headers or {}).items()
                       if not key.startswith("x-") and key not in RETRY_HEADERS}
            headers["replayed"] = True
            copy = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, headers=headers,
                                        content_type=properties.content_type, message_id=properties.message_id)
            try:
                mover.basic_publish(exchange=exchange, routing_key=to_queue, body=body, properties=copy, mandatory=True)
            except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
                raise CourseError(f"The broker did not take the copy for '{to_queue}' (does that queue exist?); "
                                  f"{moved} moved, the others are still in '{parking_lot}'.") from None
            mover.basic_ack(method.delivery_tag)
            moved += 1
        return moved
    finally:
        if mover.is_open:
            mover.close()


# -- poison messages ------------------------------------------------------------------------------
def requeue_every_delivery(channel, queue, idle_timeout=1.0, deadline=15.0):
    """A consumer with a bug: it nacks every message *with* requeue. Return its deliveries.

    On a quorum queue with ``x-delivery-limit`` the broker stops the loop; on a classic queue it
    would go on until ``deadline``. Stops after ``idle_timeout`` seconds without a delivery. One
    row a delivery: ``delivery``, ``message``, ``redelivered``, ``x-delivery-count`` (empty when
    the broker did not set it). Introduced in lesson 09.
    """
    rows = []
    for method, properties, body in deliveries(channel, queue, idle_timeout=idle_timeout, deadline=deadline):
        count = (properties.headers or {}).get("x-delivery-count")
        rows.append({"delivery": len(rows) + 1, "message": body.decode(errors="replace"),
                     "redelivered": method.redelivered, "x-delivery-count": "" if count is None else int(count)})
        channel.basic_nack(method.delivery_tag, requeue=True)
    return pd.DataFrame(rows, columns=["delivery", "message", "redelivered", "x-delivery-count"])


def probe_dead_lettering(queue, dlq, wait=5.0):
    """Send a test message to ``queue``, reject it without requeue, and look for it in ``dlq``.

    Returns ``(outcome, death)``: outcome is "dead-lettered", "lost" (not in ``dlq`` within
    ``wait`` seconds) or "not empty" (``queue`` had other messages first, nothing was done);
    death is the probe's latest ``x-death`` entry (or {}). Used by ``check_dead_lettering``.
    Introduced in lesson 09.
    """
    from ..amqp import connect

    marker = f"probe-{uuid.uuid4().hex[:8]}"
    with connect(name="check") as connection:
        channel = connection.channel()
        if queue_counts(queue, connection).messages:
            return "not empty", {}
        publish(channel, queue, marker, message_id=marker, persistent=True)
        got = poll(lambda: (lambda got: got if got[0] is not None else None)(channel.basic_get(queue)), wait, interval=0.05)
        if not got:
            return "lost", {}
        method, properties, body = got
        if properties.message_id != marker:
            channel.basic_nack(method.delivery_tag, requeue=True)
            return "not empty", {}
        channel.basic_reject(method.delivery_tag, requeue=False)
        # Unacknowledged others go back to the DLQ, in place, when the connection closes.
        for method, properties, body in deliveries(channel, dlq, deadline=wait):
            if properties.message_id == marker:
                channel.basic_ack(method.delivery_tag)
                deaths = x_death(properties.headers)
                return "dead-lettered", deaths[0] if deaths else {}
    return "lost", {}
