"""Checks for lessons 00-02: the broker, queues, messages and bindings.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["check_queue", "check_received", "check_broker_version", "check_enabled_plugins", "check_binding"]


@check
def check_queue(name, durable=None, messages=None, arguments=None, wait=5.0):
    """Does queue ``name`` exist, with these settings and this many messages?"""
    queue = queue_or_none(name)
    if queue is None:
        return report(False, "", f"There is no queue named '{name}' yet: declare it (channel.queue_declare).")
    if durable is not None and queue.get("durable") != durable:
        word = "durable" if durable else "not durable"
        return report(False, "", f"Queue '{name}' should be {word}: delete it and declare it again with durable={durable}.")
    for key, value in (arguments or {}).items():
        if queue.get("arguments", {}).get(key) != value:
            return report(False, "", f"Queue '{name}' should have the argument {key}={value!r} (it has {queue.get('arguments', {})}).")
    if messages is not None:
        try:
            queue = management_api().wait_for_queue(name, timeout=wait, messages=messages)
        except CourseError:
            have = queue_or_none(name).get("messages", 0)
            return report(False, "", f"Queue '{name}' holds {have} message(s); it should hold {messages}.")
    report(True, f"Queue '{name}' is as it should be.", "")


@check
def check_received(received, expected, queue="the queue"):
    """Were exactly the ``expected`` message texts received, in that order?"""
    if list(received) == list(expected):
        return report(True, f"You received {len(expected)} message(s), in the order they were sent.", "")
    if not received:
        return report(False, "", f"Nothing was received: is {queue} empty? Publish the messages first, then drain it.")
    if sorted(received) == sorted(expected):
        return report(False, "", f"The right messages, in another order: {received}. A queue hands them out first in, first out.")
    report(False, "", f"You received {received}; expected {expected}.")


@check
def check_broker_version(version):
    """Lesson 00: is ``version`` the version the broker itself reports?"""
    actual = management_api().overview().get("rabbitmq_version")
    if version == actual:
        return report(True, f"Right: this broker runs RabbitMQ {actual}.", "")
    return report(False, "", f"{version!r} is not it. Look for the key 'rabbitmq_version' in lesson.api.overview().")


@check
def check_enabled_plugins(plugins):
    """Lesson 00: does ``plugins`` list exactly the plugins enabled on the broker's node?"""
    node = management_api().get("nodes")[0]
    actual = sorted(node.get("enabled_plugins", []))
    if sorted(plugins or []) == actual:
        return report(True, f"Right: {', '.join(actual)}.", "")
    return report(False, "", f"{plugins!r} is not the list. Each row of lesson.api.nodes() has a column 'enabled_plugins'.")


@check
def check_binding(exchange, queue, routing_key):
    """Lesson 01: is ``queue`` bound to ``exchange`` with ``routing_key``?"""
    bindings = management_api().bindings()
    mine = bindings[(bindings.source == exchange) & (bindings.destination == queue)]
    if routing_key in set(mine.routing_key):
        return report(True, f"'{exchange}' routes '{routing_key}' to '{queue}'.", "")
    if mine.empty:
        return report(False, "", f"'{queue}' is not bound to '{exchange}' at all: channel.queue_bind(queue=..., exchange=..., routing_key=...).")
    return report(False, "", f"'{queue}' is bound to '{exchange}' with {sorted(mine.routing_key)}, not with '{routing_key}'.")
