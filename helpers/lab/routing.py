"""Routing with exchanges: declare an exchange and its bindings, publish, and see where each message went.

    declare_routing(channel, "telemetry", "topic", [("paris", "sensor.paris.*"), ("temperatures", "sensor.*.temperature")])
    table = route_table(channel, "telemetry", ["sensor.paris.temperature", "sensor.lyon.humidity"], ["paris", "temperatures"])

``route_table`` publishes each message (with publisher confirms and ``mandatory=True``, so a
message no queue takes comes back instead of vanishing), reads each queue's depth back from the
management API, then takes the messages out of every queue and tabulates which queue received
which message: one row a message, one column a queue, a ✓ where it arrived, and a last row with
the depth the management API reported. ``routes(table)`` turns the table back into a dict for
assertions and checks.

Introduced in lesson 07.
"""

import json

import pandas as pd
import pika
import pika.exceptions

from ..amqp import declare_queue, queue_counts
from ..errors import CourseError
from ..management import STATS_WAIT, management_api
from ..waiting import wait_until

RETURNED = "returned (no queue)"
DEPTH_ROW = "depth (management API)"
TICK = "✓"


def declare_routing(channel, exchange, exchange_type, bindings, arguments=None):
    """Declare a durable ``exchange`` and durable queues bound to it; return the queue names.

    ``bindings`` is a list of ``(queue, key)``: ``key`` is a binding key (direct, topic, fanout)
    or, for a headers exchange, a dict of headers with ``"x-match": "all"`` or ``"any"``.
    ``arguments`` are the exchange's arguments (e.g. ``{"alternate-exchange": "unrouted"}``).
    """
    channel.exchange_declare(exchange, exchange_type, durable=True, arguments=arguments)
    queues = []
    for queue, key in bindings:
        if queue not in queues:
            declare_queue(channel, queue, durable=True)
            queues.append(queue)
        if isinstance(key, dict):
            channel.queue_bind(queue, exchange, routing_key="", arguments=key)
        else:
            channel.queue_bind(queue, exchange, routing_key=key)
    return queues


def _message_spec(message):
    """(routing_key, headers, label) of a message given as a routing key, (key, headers) or headers."""
    if isinstance(message, str):
        return message, None, message
    if isinstance(message, dict):
        return "", message, ", ".join(f"{name}={value}" for name, value in message.items())
    routing_key, headers = message
    label = routing_key + (" " + ", ".join(f"{name}={value}" for name, value in headers.items()) if headers else "")
    return routing_key, headers, label


def _unique(labels):
    seen = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} (#{seen[label]})")
    return unique


def publish_and_track(channel, exchange, messages, mandatory=True):
    """Publish ``messages`` with confirms; return (labels, returned labels).

    Each body is JSON ``{"n": i, "label": ...}`` so a consumer can tell which message it got.
    With ``mandatory=True`` a message that no queue takes is returned (``UnroutableError``).
    The channel is put in confirm mode (so every publish waits for the broker's answer).
    """
    specs = [_message_spec(message) for message in messages]
    labels = _unique([label for _, _, label in specs])
    channel.confirm_delivery()
    returned = []
    for number, ((routing_key, headers, _), label) in enumerate(zip(specs, labels)):
        body = json.dumps({"n": number, "label": label}).encode()
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, headers=headers,
                                          content_type="application/json")
        try:
            channel.basic_publish(exchange, routing_key, body, properties=properties, mandatory=mandatory)
        except pika.exceptions.UnroutableError:
            returned.append(label)
    return labels, returned


def take_all(channel, queue):
    """Take every message of ``queue`` now (basic.get until it is empty); return their labels."""
    labels = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return labels
        try:
            labels.append(json.loads(body)["label"])
        except (ValueError, KeyError, TypeError):
            labels.append(body.decode(errors="replace"))


def route_table(channel, exchange, messages, queues, mandatory=True, api=None, wait=10.0):
    """Publish ``messages`` to ``exchange``; return which of ``queues`` received each, as a table.

    Rows are the messages (their routing keys, or headers), columns the queues (and, with
    ``mandatory=True``, a column for messages the broker returned because no queue took them);
    a ✓ marks where a message arrived. The last row is each queue's depth as the management API
    reported it after publishing. The queues are emptied afterwards, so the experiment can run again.
    Messages are published on a fresh channel of ``channel``'s connection (confirm mode).
    """
    api = api or management_api()
    queues = list(queues)
    for queue in queues:
        if take_all(channel, queue):
            raise CourseError(f"Queue '{queue}' was not empty before the experiment; it has been emptied, run the cell again.")
    publisher = channel.connection.channel()
    try:
        labels, returned = publish_and_track(publisher, exchange, messages, mandatory=mandatory)
    finally:
        if publisher.is_open:
            publisher.close()
    depths = {}
    for queue in queues:
        count = queue_counts(queue, channel.connection).messages
        depths[queue] = api.wait_for_queue(queue, timeout=wait, messages=count).get("messages", 0)
    received = {queue: take_all(channel, queue) for queue in queues}
    columns = queues + ([RETURNED] if mandatory else [])
    rows = []
    for label in labels:
        row = {queue: TICK if label in received[queue] else "" for queue in queues}
        if mandatory:
            row[RETURNED] = TICK if label in returned else ""
        rows.append(row)
    rows.append({**depths, **({RETURNED: ""} if mandatory else {})})
    table = pd.DataFrame(rows, index=[*labels, DEPTH_ROW], columns=columns)
    table.index.name = f"message → {exchange or '(default exchange)'}"
    return table


def binding_table(exchanges, api=None):
    """The bindings of these exchanges, from the management API, with each binding's arguments.

    Like ``ManagementAPI.bindings()``, plus an ``arguments`` column (what a headers exchange
    matches on, sorted by name, e.g. ``format=pdf, x-match=all``).
    """
    api = api or management_api()
    rows = [row for row in api.binding_list() if row.get("source") in set(exchanges)]
    frame = pd.DataFrame([{
        "source": row.get("source"),
        "destination": row.get("destination"),
        "routing_key": row.get("routing_key"),
        "arguments": ", ".join(f"{key}={value}" for key, value in sorted((row.get("arguments") or {}).items())),
    } for row in rows], columns=["source", "destination", "routing_key", "arguments"])
    return frame.sort_values(["source", "destination", "routing_key", "arguments"]).reset_index(drop=True)


def routes(table):
    """``{message: set of queues}`` from a route table (the depth row left out; 'returned' kept as a column name)."""
    result = {}
    for label, row in table.drop(index=DEPTH_ROW, errors="ignore").iterrows():
        result[label] = {column for column, mark in row.items() if mark == TICK}
    return result


def exchange_counts(name, api=None):
    """How many messages exchange ``name`` took in (``publish_in``) and delivered to queues (``publish_out``).

    ``publish_out`` counts copies: a message routed to three queues counts three times, one that
    no queue took counts zero. Both start at 0 (the API shows them only after traffic).
    """
    api = api or management_api()
    stats = api.exchange(name).get("message_stats", {})
    return {"publish_in": stats.get("publish_in", 0), "publish_out": stats.get("publish_out", 0)}


def wait_for_exchange(name, api=None, timeout=STATS_WAIT, **expected):
    """Poll an exchange's counts until they equal ``expected`` (e.g. ``publish_in=5``); return them.

    The management statistics lag the broker by a second or so; this raises a CourseError that
    shows what it last saw if ``timeout`` runs out.
    """
    api = api or management_api()
    counts = {}

    def reached():
        counts.clear()
        counts.update(exchange_counts(name, api))
        return all(counts.get(key) == value for key, value in expected.items())

    wait_until(reached, f"exchange '{name}' to reach {expected}", timeout=timeout, interval=0.25, seen=lambda: dict(counts))
    return dict(counts)
