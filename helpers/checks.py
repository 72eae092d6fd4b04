"""Exercise checks: each says in plain words what is right, or what is still wrong.

A check prints one line, starting with a tick or a cross, and returns nothing (so a notebook
shows just that line); it never raises, so a learner can try again. Lesson-specific checks are built on ``report``.

Introduced in lesson 00.
"""

from .errors import CourseError
from .management import management_api


def report(ok, praise, problem):
    """Print ``praise`` (if ok) or ``problem``, marked so a glance tells which."""
    print(f"✅ {praise}" if ok else f"❌ {problem}")


def queue_or_none(name):
    try:
        return management_api().queue(name)
    except CourseError:
        return None


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


def check_received(received, expected, queue="the queue"):
    """Were exactly the ``expected`` message texts received, in that order?"""
    if list(received) == list(expected):
        return report(True, f"You received {len(expected)} message(s), in the order they were sent.", "")
    if not received:
        return report(False, "", f"Nothing was received: is {queue} empty? Publish the messages first, then drain it.")
    if sorted(received) == sorted(expected):
        return report(False, "", f"The right messages, in another order: {received}. A queue hands them out first in, first out.")
    report(False, "", f"You received {received}; expected {expected}.")


def check_broker_version(version):
    """Lesson 00: is ``version`` the version the broker itself reports?"""
    actual = management_api().overview().get("rabbitmq_version")
    if version == actual:
        return report(True, f"Right: this broker runs RabbitMQ {actual}.", "")
    return report(False, "", f"{version!r} is not it. Look for the key 'rabbitmq_version' in lesson.api.overview().")


def check_enabled_plugins(plugins):
    """Lesson 00: does ``plugins`` list exactly the plugins enabled on the broker's node?"""
    node = management_api().get("nodes")[0]
    actual = sorted(node.get("enabled_plugins", []))
    if sorted(plugins or []) == actual:
        return report(True, f"Right: {', '.join(actual)}.", "")
    return report(False, "", f"{plugins!r} is not the list. Each row of lesson.api.nodes() has a column 'enabled_plugins'.")


def check_binding(exchange, queue, routing_key):
    """Lesson 01: is ``queue`` bound to ``exchange`` with ``routing_key``?"""
    bindings = management_api().bindings()
    mine = bindings[(bindings.source == exchange) & (bindings.destination == queue)]
    if routing_key in set(mine.routing_key):
        return report(True, f"'{exchange}' routes '{routing_key}' to '{queue}'.", "")
    if mine.empty:
        return report(False, "", f"'{queue}' is not bound to '{exchange}' at all: channel.queue_bind(queue=..., exchange=..., routing_key=...).")
    return report(False, "", f"'{queue}' is bound to '{exchange}' with {sorted(mine.routing_key)}, not with '{routing_key}'.")


def check_dead_lettering(queue, dlq, wait=5.0):
    """Do messages rejected (without requeue) from ``queue`` end up in ``dlq``? Introduced in lesson 09.

    Checks the arguments, then sends a test message through: it is rejected from ``queue`` and
    looked for in ``dlq`` (and taken out of it again), so the check proves the routing works.
    """
    from .dead_letters import probe_dead_lettering

    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    arguments = found.get("arguments", {}) or {}
    if "x-dead-letter-exchange" not in arguments:
        return report(False, "", f"Queue '{queue}' has no x-dead-letter-exchange argument, so the broker drops what is rejected. "
                                 "Delete it and declare it again with one.")
    if queue_or_none(dlq) is None:
        return report(False, "", f"There is no queue named '{dlq}' yet: declare it and bind it to the dead-letter exchange.")
    outcome, death = probe_dead_lettering(queue, dlq, wait=wait)
    if outcome == "not empty":
        return report(False, "", f"Queue '{queue}' holds messages: empty it first (drain), the check sends a test message through it.")
    if outcome == "lost":
        exchange = arguments.get("x-dead-letter-exchange")
        return report(False, "", f"A message rejected from '{queue}' did not reach '{dlq}' within {wait:g} s: does the exchange "
                                 f"'{exchange}' exist and route to '{dlq}' (a binding, or x-dead-letter-routing-key)?")
    if death.get("reason") != "rejected" or death.get("queue") != queue:
        return report(False, "", f"A message reached '{dlq}', but its x-death says {death}, not reason 'rejected' from '{queue}'.")
    report(True, f"A message rejected from '{queue}' arrived in '{dlq}' with x-death reason 'rejected'.", "")


def check_kept_newest(queue, published, limit):
    """Does ``queue`` hold at most ``limit`` messages and keep the newest of ``published``? Introduced in lesson 09."""
    from .dead_letters import peek

    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    arguments = found.get("arguments", {}) or {}
    if arguments.get("x-max-length") != limit:
        return report(False, "", f"Queue '{queue}' should have x-max-length={limit} (its arguments: {arguments}).")
    overflow = arguments.get("x-overflow", "drop-head")
    if overflow != "drop-head":
        return report(False, "", f"With x-overflow='{overflow}' a full queue refuses new messages and keeps the oldest: "
                                 "the mode that drops the oldest is 'drop-head'.")
    expected = [str(text) for text in list(published)[-limit:]]
    try:
        management_api().wait_for_queue(queue, timeout=5.0, messages=len(expected))
    except CourseError:
        pass
    kept = [message["text"] for message in peek(queue, count=limit + 5)]
    if kept != expected:
        return report(False, "", f"Queue '{queue}' holds {kept}; it should hold the newest {limit}: {expected}.")
    report(True, f"Queue '{queue}' keeps the newest {limit} messages: {expected}.", "")
