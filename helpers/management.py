"""Reading the broker back through its management HTTP API, as dicts and pandas DataFrames.

Every request has a timeout, and every failure a learner can meet (API down, login refused, a
queue that does not exist) becomes a one-line CourseError. The API's statistics are refreshed
about once a second (see docker/rabbitmq.conf), so ``wait_for_queue`` waits, with a limit, for
a figure to reach the value a lesson expects before showing it.

Introduced in lesson 01 (``queue_history`` in lesson 02).
"""

from urllib.parse import quote

import pandas as pd
import requests

from .amqp import COURSE_ID
from .config import settings
from .errors import CourseError
from .waiting import wait_until

START_HINT = "Start it with: make broker  (or: python -m helpers.ops.broker up)"

QUEUE_COLUMNS = ["name", "type", "durable", "messages", "messages_ready", "messages_unacknowledged", "consumers"]

# A workshop attendee's account (tag policymaker, docs/WORKSHOP.md) sees its own vhost only: what a
# lesson shows of the whole node is then replaced by this sentence.
NODE_WIDE_NOTE = "Your account sees its own vhost ({vhost}) only: the node-wide figures are the instructor's to show."


class MissingTag(CourseError):
    """The API refused a request to an account that logged in but lacks the tag it needs (a
    workshop attendee's account asking for the node's figures)."""


def _quote(part):
    return quote(part, safe="")


# How long a wait on the API's statistics lasts by default. They come in batches (every 5 s, or
# what the broker's collect_statistics_interval says); on a loaded machine a batch comes late,
# and a 10 s limit was seen to run out (a test suite beside eight nodes on two cores).
STATS_WAIT = 30.0


class ManagementAPI:
    """A small client for the management HTTP API. ``management_api()`` makes one from the settings."""

    def __init__(self, url, user, password, vhost="/", timeout=5.0):
        self.url = url.rstrip("/")
        self.vhost = vhost
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = (user, password)

    # -- plumbing ------------------------------------------------------------------------
    def request(self, method, path, **kwargs):
        """Send one request to ``/api/<path>``; return the decoded JSON (or None)."""
        url = f"{self.url}/api/{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectionError:
            raise CourseError(f"The management API is not reachable at {self.url}. {START_HINT}") from None
        except requests.exceptions.Timeout:
            raise CourseError(f"The management API at {self.url} did not answer within {self.timeout:g} s.") from None
        if response.status_code == 401:
            reason = _reason_of(response)
            if reason.startswith("Not ") and reason.endswith(" user"):   # logged in, without the tag this needs
                raise MissingTag(f"The management API refused {method} {path} to user '{self.session.auth[0]}': "
                                  f"\"{reason}\", the account lacks the tag this needs. On a workshop's shared broker, "
                                  "this part is the instructor's to show (docs/WORKSHOP.md).")
            raise CourseError(
                f"The management API at {self.url} refused the login for user '{self.session.auth[0]}'. "
                "Check RABBITMQ_USER / RABBITMQ_PASSWORD (or AMQP_URL); the course's defaults are devuser / devpassword."
            )
        if response.status_code == 404:
            raise CourseError(f"Not found on the broker: {path}")
        if response.status_code >= 400:
            raise CourseError(f"The management API answered {response.status_code} to {method} {path}: {response.text[:200]}")
        if not response.content:
            return None
        return response.json()

    def get(self, path, **params):
        return self.request("GET", path, params=params or None)

    def put(self, path, body):
        """Create or replace what ``/api/<path>`` names (a user, a vhost, permissions). Lesson 12."""
        return self.request("PUT", path, json=body)

    def post(self, path, body):
        """Send ``body`` to ``/api/<path>`` (lesson 12 imports definitions this way)."""
        return self.request("POST", path, json=body)

    def delete(self, path):
        """Delete what ``/api/<path>`` names; nothing happens if it does not exist. Lesson 12."""
        try:
            return self.request("DELETE", path)
        except CourseError as error:
            if str(error).startswith("Not found"):
                return None
            raise

    def vhost_path(self, kind, name=None, vhost=None):
        """``queues/%2F`` or ``queues/%2F/<name>``: the API path of an object in our vhost (or ``vhost``)."""
        path = f"{kind}/{_quote(self.vhost if vhost is None else vhost)}"
        return path if name is None else f"{path}/{_quote(name)}"

    # -- what is on the broker -----------------------------------------------------------
    def overview(self):
        """The broker's overview: version, node, totals, message rates."""
        return self.get("overview")

    def nodes(self):
        """The nodes as a table, one row a node (``node_list``: none for an account that may not see them)."""
        rows = self.node_list()
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["name", "enabled_plugins", "running"])

    def node_list(self):
        """Every node as the API's dicts: memory, disk, file descriptors, alarms. An account that may
        not read them (a workshop attendee's) gets none, after one sentence that says so. Lesson 10."""
        try:
            return self.get("nodes")
        except MissingTag:
            print(NODE_WIDE_NOTE.format(vhost=self.vhost))
            return []

    def node(self):
        """The (first) node as a dict: its name, plugins, memory, Erlang process id..."""
        return self.get("nodes")[0]

    def queue(self, name):
        """One queue as a dict (raises CourseError if it does not exist)."""
        return self.get(self.vhost_path("queues", name))

    def queue_list(self):
        """Every queue of our vhost, as the API's dicts (``queues()`` is the table of them)."""
        return self.get(self.vhost_path("queues"))

    def exchange(self, name):
        """One exchange as a dict: type, arguments, message_stats (CourseError if it does not exist)."""
        return self.get(self.vhost_path("exchanges", name))

    def binding_list(self):
        """Every binding of our vhost, as the API's dicts, arguments included (``bindings()`` is the table)."""
        return self.get(self.vhost_path("bindings"))

    def queue_exists(self, name):
        try:
            self.queue(name)
        except CourseError:
            return False
        return True

    def queues(self, names=None):
        """The queues of our vhost as a DataFrame (only ``names`` if given), one row a queue."""
        rows = self.queue_list()
        if names is not None:
            rows = [row for row in rows if row["name"] in set(names)]
        frame = pd.DataFrame([{column: row.get(column, 0) for column in QUEUE_COLUMNS} for row in rows], columns=QUEUE_COLUMNS)
        return frame.sort_values("name").reset_index(drop=True)

    def exchanges(self, include_defaults=False):
        """The exchanges of our vhost (without the built-in ``amq.*`` and default ones unless asked)."""
        rows = self.get(self.vhost_path("exchanges"))
        if not include_defaults:
            rows = [row for row in rows if row["name"] and not row["name"].startswith("amq.")]
        columns = ["name", "type", "durable", "auto_delete"]
        frame = pd.DataFrame([{column: row.get(column) for column in columns} for row in rows], columns=columns)
        return frame.sort_values("name").reset_index(drop=True)

    def bindings(self, include_default=False):
        """Bindings of our vhost: which exchange routes to which queue with which key."""
        rows = self.binding_list()
        if not include_default:
            rows = [row for row in rows if row["source"]]
        columns = ["source", "destination", "destination_type", "routing_key"]
        frame = pd.DataFrame([{column: row.get(column) for column in columns} for row in rows], columns=columns)
        return frame.sort_values(["source", "destination", "routing_key"]).reset_index(drop=True)

    def connections(self):
        """Every connection: the broker's ``name`` for it (its addresses), the ``connection_name``
        its client gave it, its ``state`` (running, blocked...), its channels, and the
        ``heartbeat`` the two sides agreed on, in seconds (0: off)."""
        rows = self.get("connections")
        columns = ["name", "user", "state", "channels", "heartbeat", "client_properties"]
        frame = pd.DataFrame([{**{column: row.get(column) for column in columns}, "heartbeat": row.get("timeout")} for row in rows],
                             columns=columns)
        frame["connection_name"] = [props.get("connection_name", "") if isinstance(props, dict) else "" for props in frame.pop("client_properties")]
        return frame

    def connection(self, client_name, timeout=STATS_WAIT):
        """The connection a client named ``client_name``, as a dict (see ``connections``), once the
        broker lists it (it lists a new connection within about a second)."""
        def listed():
            frame = self.connections()
            mine = frame[frame["connection_name"] == client_name]
            return None if mine.empty else mine.iloc[0].to_dict()
        return wait_until(listed, f"the connection '{client_name}' to be listed", timeout=timeout, interval=0.2)

    def close_connection(self, client_name, reason="Closed from the management API", timeout=STATS_WAIT):
        """Close a client's connection from the broker's side, as the UI's "Force Close" button does.
        The client gets ``ConnectionClosedByBroker(320, 'CONNECTION_FORCED - <reason>')``. Lesson 11."""
        self._close(self.connection(client_name, timeout=timeout)["name"], reason)

    def _close(self, address, reason):
        """Close the connection the broker names ``address``, telling its client ``reason``."""
        self.request("DELETE", f"connections/{_quote(address)}", headers={"X-Reason": reason})

    def channels(self, client_name, at_least=1, timeout=STATS_WAIT):
        """The channels of the connection a client named ``client_name`` (number, state, prefetch,
        unacked), once the broker lists ``at_least`` of them with their statistics (within about a
        second of their opening). Lesson 11."""
        name = self.connection(client_name, timeout=timeout)["name"]
        columns = ["number", "state", "prefetch_count", "consumer_count", "messages_unacknowledged"]

        def listed():  # a new channel is listed before its first statistics (its state) arrive
            rows = self.get(f"connections/{_quote(name)}/channels")
            return rows if len(rows) >= at_least and all(row.get("state") for row in rows) else None
        rows = wait_until(listed, f"{at_least} channels of '{client_name}' to be listed", timeout=timeout, interval=0.2)
        frame = pd.DataFrame([{column: row.get(column) for column in columns} for row in rows], columns=columns)
        return frame.sort_values("number").reset_index(drop=True)

    def channel_of(self, channel):
        """The broker's account of ``channel`` (opened on a connection from helpers.amqp.connect), as a
        dict: its ``message_stats`` (ack, deliver_no_ack, get_no_ack...) and ``messages_unacknowledged``.
        None while the broker does not list it with its statistics yet, or no more (it was closed).
        The connection is found by the id ``connect`` gave it, not by its addresses, which differ from
        the broker's side behind Docker's port forwarding."""
        course_id = getattr(channel.connection, "course_id", None)
        mine = [row["name"] for row in self.get("connections")
                if (row.get("client_properties") or {}).get(COURSE_ID) == course_id]
        if course_id is None or not mine:
            return None
        for row in self.get(f"connections/{_quote(mine[0])}/channels"):
            if row.get("number") == channel.channel_number and row.get("state"):
                return row
        return None

    def close_connections_consuming(self, queue, reason="Closed from the management API"):
        """Close, from the broker's side, every connection with a consumer on ``queue``; return how
        many (an exercise check cuts a learner's worker this way). Lesson 11."""
        addresses = set(self.consumers().query("queue == @queue")["connection_name"].dropna())
        for address in addresses:
            self._close(address, reason)
        return len(addresses)

    def churn(self):
        """How many connections and channels the broker has opened and closed since it started
        (the overview's ``churn_rates``). Lesson 11."""
        rates = self.overview().get("churn_rates") or {}
        keys = ["connection_created", "connection_closed", "channel_created", "channel_closed"]
        return {key: int(rates.get(key, 0)) for key in keys}

    def wait_for_churn(self, since, timeout=STATS_WAIT, **at_least):
        """What ``churn()`` counted after ``since`` (an earlier ``churn()``), once each count named
        in ``at_least`` has grown by that much (the broker's statistics lag a second or so)."""
        def counted():
            now = self.churn()
            grown = {key: now[key] - since[key] for key in now}
            return grown if all(grown[key] >= least for key, least in at_least.items()) else None
        return wait_until(counted, f"the broker to count {at_least}", timeout=timeout, interval=0.2)

    def consumers(self):
        """Consumers of our vhost: which queue, its prefetch and ack mode, and whose connection.

        ``connection_name`` is the connection's address as the broker names it; ``client_name`` is
        the name its client gave it (``lesson``, ``worker-1``), None until the API knows it.
        """
        client_names = {row.get("name"): (row.get("client_properties") or {}).get("connection_name")
                        for row in self.get("connections")}
        rows = self.get(f"consumers/{_quote(self.vhost)}")
        columns = ["queue", "consumer_tag", "prefetch_count", "ack_required", "connection_name", "client_name"]
        frame = []
        for row in rows:
            # details the broker has not gathered yet come as [] rather than {}
            address = (row.get("channel_details") or {}).get("connection_name")
            frame.append({
                "queue": (row.get("queue") or {}).get("name"),
                "consumer_tag": row.get("consumer_tag"),
                "prefetch_count": row.get("prefetch_count"),
                "ack_required": row.get("ack_required"),
                "connection_name": address,
                "client_name": client_names.get(address),
            })
        return pd.DataFrame(frame, columns=columns)

    def peek(self, queue, count=100, vhost=None):
        """The messages at the head of ``queue`` without taking them: one dict each with ``text``,
        ``exchange``, ``routing_key``, ``delivery_mode`` (2 = persistent) and ``headers``.
        ``vhost``: another vhost than the API's own (a workshop's board reads each attendee's).

        The broker hands them out and puts them back where they were (marked redelivered): for
        looking, in checks and lessons; a program consumes. Introduced in lesson 02.
        """
        body = {"count": count, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 50000}
        rows = self.request("POST", self.vhost_path("queues", queue, vhost) + "/get", json=body) or []
        return [{"text": row.get("payload", ""), "exchange": row.get("exchange", ""), "routing_key": row.get("routing_key", ""),
                 "delivery_mode": (row.get("properties") or {}).get("delivery_mode", 1),
                 "headers": (row.get("properties") or {}).get("headers", {}) or {}} for row in rows]

    def wait_for_consumers(self, queue, count, timeout=STATS_WAIT):
        """The consumers of ``queue`` (a ``consumers()`` frame), once the API lists ``count`` of them
        with their details; a CourseError after ``timeout``. Introduced in lesson 01."""
        listed = []

        def consumers_listed():
            frame = self.consumers()
            listed[:] = [frame[(frame["queue"] == queue) & frame["connection_name"].notna()].reset_index(drop=True)]
            return len(listed[0]) == count

        wait_until(consumers_listed, f"the API to list {count} consumer(s) of '{queue}'", timeout=timeout, interval=0.25,
                   seen=lambda: f"{len(listed[0])} consumer(s)" if listed else "nothing")
        return listed[0]

    def queue_history(self, name, seconds=60, every=1):
        """A queue's recent depth and rates from the API's own samples, one row a sample.

        Columns: ``messages``, ``messages_ready``, ``messages_unacknowledged`` (counts) and
        ``publish``, ``deliver_get``, ``ack`` (messages per second), indexed by the sample's time.
        """
        params = {"lengths_age": seconds, "lengths_incr": every, "msg_rates_age": seconds, "msg_rates_incr": every}
        queue = self.get(self.vhost_path("queues", name), **params)
        series = {}
        for field in ("messages", "messages_ready", "messages_unacknowledged"):
            for sample in queue.get(f"{field}_details", {}).get("samples", []):
                series.setdefault(sample["timestamp"], {})[field] = sample["sample"]
        stats = queue.get("message_stats", {})
        for rate in ("publish", "deliver_get", "ack"):
            samples = sorted(stats.get(f"{rate}_details", {}).get("samples", []), key=lambda s: s["timestamp"])
            for previous, current in zip(samples, samples[1:]):
                seconds_between = (current["timestamp"] - previous["timestamp"]) / 1000
                per_second = (current["sample"] - previous["sample"]) / seconds_between if seconds_between else 0.0
                series.setdefault(current["timestamp"], {})[rate] = per_second
        frame = pd.DataFrame.from_dict(series, orient="index").sort_index()
        frame.index = pd.to_datetime(frame.index, unit="ms")
        frame.index.name = "time"
        return frame

    # -- waiting for the statistics to catch up -------------------------------------------
    def wait_for_queue(self, name, timeout=STATS_WAIT, **expected):
        """Poll a queue until its fields equal ``expected`` (e.g. ``messages=3``); return it.

        The management statistics lag the broker by up to a second or two; this waits for
        them, and raises a CourseError that shows what it last saw if ``timeout`` runs out.
        """
        seen = {}

        def reached():
            try:
                queue = self.queue(name)
            except CourseError:
                queue = {}
            seen.clear()
            seen.update({key: queue.get(key) for key in expected})
            return queue if queue and seen == expected else None

        return wait_until(reached, f"queue '{name}' to reach {expected}", timeout=timeout, interval=0.25, seen=lambda: seen)


def _reason_of(response):
    """The ``reason`` of an error answer from the management API, or ""."""
    try:
        return str(response.json().get("reason", ""))
    except ValueError:
        return ""


def management_api(timeout=5.0, current=None):
    """A ManagementAPI for the course's broker, from the settings in ``helpers.config`` (or for the
    broker of ``current``, a Settings)."""
    current = current or settings()
    return ManagementAPI(current.management_url, current.user, current.password, vhost=current.vhost, timeout=timeout)
