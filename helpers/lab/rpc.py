"""Request/reply (RPC) over the broker: a client that waits with a limit, and a server process.

    with RpcServer("rpc_queue") as server, RpcClient(connection, "rpc_queue") as client:
        client.call({"item": "poster", "quantity": 2}, timeout=5)   # {'item': 'poster', ..., 'total': 24.0}

The client sends each request with ``reply_to`` (where to answer) and a fresh ``correlation_id``
(which request an answer belongs to), either to its own exclusive callback queue or through
direct reply-to (``amq.rabbitmq.reply-to``). ``call`` waits at most ``timeout`` seconds and then
raises ``RpcTimeout``, a one-line CourseError; the request carries the same time as its expiration,
so a server that starts later does not answer a question nobody waits for. A reply whose
correlation id is not a call in progress (late, duplicate or unknown) is ignored and counted
in ``client.ignored``.

The server is a real process (``helpers.lab.rpc_server``) that quotes prices, started and stopped by
``RpcServer``; it stops on SIGTERM and after ``idle_timeout`` seconds without a request.

Introduced in lesson 08.
"""

import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import pika
import pika.exceptions

from ..errors import CourseError
from ..management import management_api
from ..waiting import poll, wait_until
from .reports import reports_folder

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

# The shop's price list (euros): what the pricing service quotes.
PRICES = {"photo-print": 0.40, "poster": 12.00, "frame": 25.00, "photo-book": 30.00}
BULK_QUANTITY, BULK_DISCOUNT = 10, 0.10


def quote(request):
    """The price quote for ``{"item": ..., "quantity": n}``: 10 % off from 10 of an item.

    An unknown item or a bad quantity gives ``{"error": ...}``: an error is an answer too.
    """
    item, quantity = request.get("item"), request.get("quantity", 1)
    if item not in PRICES:
        return {"item": item, "error": f"unknown item '{item}'"}
    if not isinstance(quantity, int) or quantity < 1:
        return {"item": item, "error": f"quantity must be a whole number from 1, not {quantity!r}"}
    unit_price = PRICES[item]
    discount = BULK_DISCOUNT if quantity >= BULK_QUANTITY else 0.0
    total = round(unit_price * quantity * (1 - discount), 2)
    return {"item": item, "quantity": quantity, "unit_price": unit_price, "discount": discount, "total": total}


class RpcTimeout(CourseError):
    """No reply came within the call's timeout."""


class RpcClient:
    """Sends requests to ``queue`` and waits, with a limit, for the matching reply.

    ``direct_reply_to=False`` declares an exclusive, server-named callback queue for the replies;
    ``True`` uses the broker's direct reply-to pseudo-queue (consumed with auto-ack before the
    first publish, as it requires). Publishes are confirmed and ``mandatory``, so a request to a
    queue that does not exist fails at once instead of timing out.
    """

    def __init__(self, connection, queue="rpc_queue", direct_reply_to=False):
        self.connection = connection
        self.queue = queue
        self.channel = connection.channel()
        self.channel.confirm_delivery()
        if direct_reply_to:
            self.reply_to = DIRECT_REPLY_TO
        else:
            self.reply_to = self.channel.queue_declare("", exclusive=True).method.queue
        self.consumer_tag = self.channel.basic_consume(self.reply_to, self._on_reply, auto_ack=True)
        self.calls = 0
        self.pending, self.answered, self.given_up = {}, {}, {}
        self.answers = {}
        self.ignored = []

    # -- calls ------------------------------------------------------------------------------
    def call(self, request, timeout=5.0):
        """Send ``request`` (a dict, sent as JSON) and return the reply (a dict), or raise RpcTimeout."""
        self.calls += 1
        number = self.calls
        correlation_id = str(uuid.uuid4())
        properties = pika.BasicProperties(reply_to=self.reply_to, correlation_id=correlation_id,
                                          content_type="application/json",
                                          expiration=str(max(1, int(timeout * 1000))))
        self.pending[correlation_id] = number
        sent_at = time.time()
        try:
            self.channel.basic_publish("", self.queue, json.dumps(request).encode(), properties=properties, mandatory=True)
        except pika.exceptions.UnroutableError:
            del self.pending[correlation_id]
            raise CourseError(f"No queue named '{self.queue}' took call {number}: start the server (it declares the queue), "
                              "or declare the queue first.") from None
        stop_at = time.monotonic() + timeout
        while correlation_id not in self.answers:
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                self.given_up[correlation_id] = self.pending.pop(correlation_id)
                error = RpcTimeout(f"No reply to call {number} within {timeout:g} s: is a server consuming "
                                   f"'{self.queue}'? The client gave up; the request expires unanswered.")
                error.correlation_id, error.queue = correlation_id, self.queue
                error.timeout, error.sent_at = timeout, sent_at  # what lesson 08's check reads
                raise error
            self.connection.process_data_events(time_limit=min(remaining, 0.05))
        return self.answers.pop(correlation_id)

    def _on_reply(self, channel, method, properties, body):
        correlation_id = properties.correlation_id
        if correlation_id in self.pending:
            number = self.pending.pop(correlation_id)
            self.answered[correlation_id] = number
            self.answers[correlation_id] = json.loads(body)
        elif correlation_id in self.given_up:
            self.ignored.append({"call": self.given_up[correlation_id], "reason": "late: the client had given up"})
        elif correlation_id in self.answered:
            self.ignored.append({"call": self.answered[correlation_id], "reason": "duplicate: already answered"})
        else:
            self.ignored.append({"call": None, "reason": "unknown correlation id"})

    def wait_for_ignored(self, count, timeout=5.0):
        """Handle incoming replies until ``count`` have been ignored in all, or ``timeout``; return the count."""
        stop_at = time.monotonic() + timeout
        while len(self.ignored) < count and time.monotonic() < stop_at:
            self.connection.process_data_events(time_limit=0.05)
        return len(self.ignored)

    def ignored_table(self):
        """The replies this client ignored, one row each: the call it answered and why it was ignored."""
        frame = pd.DataFrame(self.ignored, columns=["call", "reason"])
        frame["call"] = frame["call"].astype("Int64")
        return frame

    # -- lifetime ---------------------------------------------------------------------------
    def close(self):
        """Close the client's channel, deleting its callback queue (else it lives as long as the connection)."""
        if self.channel.is_open:
            if self.reply_to != DIRECT_REPLY_TO:
                self.channel.queue_delete(self.reply_to)
            self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RpcServer:
    """One ``helpers.lab.rpc_server`` process answering requests on ``queue``; a context manager that stops it.

    ``mode``: ``"normal"`` answers once; ``"twice"`` sends every reply twice (a duplicate);
    ``"slow"`` waits ``delay`` seconds before answering (a late reply, for a client that gave up).
    """

    def __init__(self, queue="rpc_queue", mode="normal", delay=1.0, idle_timeout=60.0, name="pricing-server",
                 ready_timeout=15.0):
        self.queue, self.mode, self.name = queue, mode, name
        self.report_path = Path(tempfile.mkdtemp(prefix="rpc-", dir=reports_folder())) / f"{name}.jsonl"
        command = [sys.executable, "-m", "helpers.lab.rpc_server", "--queue", queue, "--name", name, "--mode", mode,
                   "--delay", str(delay), "--idle-timeout", str(idle_timeout), "--report", str(self.report_path)]
        self.stderr_path = self.report_path.with_suffix(".stderr")
        with open(self.stderr_path, "w") as errors:  # a file: no pipe fills up unread
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)

        def consuming():
            if self.process.poll() is not None:
                lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
                raise CourseError(f"The RPC server stopped at once: {lines[-1] if lines else 'no message'}")
            return any(event["event"] == "ready" for event in self._events())

        try:
            wait_until(consuming, f"the RPC server to consume '{queue}'", timeout=ready_timeout, interval=0.05)
        except CourseError:
            self.stop()
            raise

    def _events(self):
        if not self.report_path.exists():
            return []
        return [json.loads(line) for line in self.report_path.read_text().splitlines() if line.endswith("}")]

    def events(self):
        """What the server did, one row an event: ready, request, replied, stopped (with the reason)."""
        columns = ["event", "request", "item", "replies", "reason"]
        frame = pd.DataFrame([{key: event.get(key) for key in columns} for event in self._events()], columns=columns)
        frame[["request", "replies"]] = frame[["request", "replies"]].astype("Int64")
        frame[["item", "reason"]] = frame[["item", "reason"]].fillna("")
        return frame

    def replies(self):
        """Every reply the server sent, from its own record: item, quantity, total, correlation_id and the
        request's reply_to as the broker delivered it (lesson 08's check)."""
        return [event for event in self._events() if event["event"] == "replied"]

    def requests_answered(self):
        return sum(1 for event in self._events() if event["event"] == "replied")

    @property
    def running(self):
        return self.process.poll() is None

    def stop(self, timeout=10.0):
        """Ask the server to stop (SIGTERM) and wait; end it if it does not. Returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def consumer_table(queues, names=None, api=None, count=None, timeout=5.0):
    """Who consumes these queues, from the management API: queue, prefetch, ack mode and connection.

    The connection is shown by the name its client gave it (``pricing-server``, ``lesson``), not by
    its address; ``names`` replaces random queue names (``amq.gen-…``) by readable ones. With
    ``count``, waits (at most ``timeout`` s) until the API lists that many consumers: its
    statistics lag the broker by a second or so.
    """
    api = api or management_api()
    seen = []

    def settled():
        frame = api.consumers()
        seen[:] = [frame[frame["queue"].isin(queues)]]
        return seen[0]["client_name"].notna().all() and (count is None or len(seen[0]) == count)

    poll(settled, timeout, interval=0.25)
    frame = seen[0]
    frame = frame.assign(connection=frame["client_name"].fillna(frame["connection_name"]))
    frame = frame[["queue", "prefetch_count", "ack_required", "connection"]]
    return frame.replace(names or {}).sort_values("queue").reset_index(drop=True)
