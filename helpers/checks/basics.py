"""Checks for lessons 00-02: the broker, queues, messages and bindings.

Each check prints one ✅/❌ line (see ``helpers.checks.report``) and reads what the broker holds.
"""

from ..errors import CourseError
from ..management import management_api
from ..waiting import poll
from .report import check, queue_or_none, report

__all__ = ["check_broker_version", "check_enabled_plugins", "check_audit_trail", "check_binding",
           "check_messages", "check_received"]


class AnotherBroker:
    """The course's management API, answering as a broker with another version and other plugins
    would: a check calls the learner's function on it, so that only code that reads the API, not
    a value typed in, gives the right answer for both."""

    VERSION = "9.9.9-check"
    PLUGIN = "rabbitmq_check_plugin"

    def __init__(self, api):
        self.api = api

    def __getattr__(self, name):
        return getattr(self.api, name)

    def overview(self):
        return {**self.api.overview(), "rabbitmq_version": self.VERSION}

    def get(self, path, **params):
        found = self.api.get(path, **params)
        if path == "nodes":
            found = [{**node, "enabled_plugins": [*node.get("enabled_plugins", []), self.PLUGIN]} for node in found]
        return found

    def node(self):
        return self.get("nodes")[0]

    def nodes(self):
        frame = self.api.nodes().copy()
        frame["enabled_plugins"] = [[*plugins, self.PLUGIN] for plugins in frame["enabled_plugins"]]
        return frame


def _not_written(function, name, signature):
    if not callable(function):
        return f"`{name}` should be a function, {name}{signature}; it is {function!r}."
    return None


@check
def check_broker_version(broker_version):
    """Lesson 00: does ``broker_version(api)`` return the version the broker the API belongs to reports?"""
    problem = _not_written(broker_version, "broker_version", "(api)")
    if problem:
        return report(False, "", problem)
    api = management_api()
    actual = api.overview().get("rabbitmq_version")
    answer = broker_version(api)
    if answer is None:
        return report(False, "", "broker_version(api) returned None: return the value of 'rabbitmq_version' in api.overview().")
    if answer != actual:
        return report(False, "", f"broker_version(api) returned {answer!r}; this broker says {actual!r}. "
                                 "Look for the key 'rabbitmq_version' in api.overview().")
    other = broker_version(AnotherBroker(api))
    if other != AnotherBroker.VERSION:
        return report(False, "", f"Asked about another broker (version {AnotherBroker.VERSION}), broker_version gave {other!r}: "
                                 "read the version from the `api` it is given, do not type it in.")
    report(True, f"broker_version(api) reads the version from the broker: this one runs RabbitMQ {actual}.", "")


@check
def check_enabled_plugins(enabled_plugins):
    """Lesson 00: does ``enabled_plugins(api)`` return the plugins enabled on the node, as a list?"""
    problem = _not_written(enabled_plugins, "enabled_plugins", "(api)")
    if problem:
        return report(False, "", problem)
    api = management_api()
    actual = sorted(api.node().get("enabled_plugins", []))
    answer = enabled_plugins(api)
    if not isinstance(answer, (list, tuple)):
        return report(False, "", f"enabled_plugins(api) returned {type(answer).__name__}, not a list: the column "
                                 "'enabled_plugins' of api.nodes() holds one list per node; return the first one.")
    if sorted(answer) != actual:
        return report(False, "", f"enabled_plugins(api) returned {sorted(answer)}; the node has {actual}.")
    other = enabled_plugins(AnotherBroker(api))
    if not isinstance(other, (list, tuple)) or AnotherBroker.PLUGIN not in other:
        return report(False, "", "On a broker with one more plugin, enabled_plugins gave the same list: read it from the `api` "
                                 "it is given (api.nodes()), do not type it in.")
    report(True, f"enabled_plugins(api) reads the node's plugins: {', '.join(actual)}.", "")


def _binding_problem(exchange, queue, routing_key):
    bindings = management_api().bindings()
    mine = bindings[(bindings.source == exchange) & (bindings.destination == queue)]
    if routing_key in set(mine.routing_key):
        return None
    if mine.empty:
        return f"'{queue}' is not bound to '{exchange}' at all: channel.queue_bind(queue=..., exchange=..., routing_key=...)."
    return f"'{queue}' is bound to '{exchange}' with {sorted(mine.routing_key)}, not with '{routing_key}'."


@check
def check_binding(exchange, queue, routing_key):
    """Lesson 01: is ``queue`` bound to ``exchange`` with ``routing_key``?"""
    problem = _binding_problem(exchange, queue, routing_key)
    if problem:
        return report(False, "", problem)
    report(True, f"'{exchange}' routes '{routing_key}' to '{queue}'.", "")


@check
def check_audit_trail(exchange, queue, routing_key, wait=5.0):
    """Lesson 01: is ``queue`` durable, bound to ``exchange`` with ``routing_key``, and does it hold
    one message that came through that exchange with that key (not published straight to it)?"""
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: an audit trail must survive a restart. Delete it "
                                 f"(run the cell above this exercise) and declare it with durable=True.")
    problem = _binding_problem(exchange, queue, routing_key)
    if problem:
        return report(False, "", problem)
    api = management_api()
    try:
        api.wait_for_queue(queue, timeout=wait, messages=1)
    except CourseError:
        have = (queue_or_none(queue) or {}).get("messages", 0)
        return report(False, "", f"'{queue}' holds {have} message(s), not 1: publish one '{routing_key}' event to '{exchange}'.")
    [message] = api.peek(queue, count=1)
    if message["exchange"] != exchange:
        return report(False, "", f"The message in '{queue}' was published to the exchange {message['exchange'] or '(default)'!r}, "
                                 f"straight to the queue: publish it to '{exchange}' and let the binding route it.")
    if message["routing_key"] != routing_key:
        return report(False, "", f"The message came with the routing key '{message['routing_key']}', not '{routing_key}'.")
    report(True, f"'{queue}' is durable, bound to '{exchange}' with '{routing_key}', and holds the event routed there.", "")


@check
def check_messages(queue, texts, persistent=True, wait=5.0):
    """Lesson 02: does durable ``queue`` hold exactly ``texts``, in order, each persistent (delivery mode 2)?"""
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}': declare it (channel.queue_declare(queue='{queue}', durable=True)).")
    api = management_api()
    try:
        api.wait_for_queue(queue, timeout=wait, messages=len(texts))
    except CourseError:
        have = (queue_or_none(queue) or {}).get("messages", 0)
        hint = "publish them" if have < len(texts) else "re-run the cell above the exercise to empty it, then publish once"
        return report(False, "", f"'{queue}' holds {have} message(s), not {len(texts)}: {hint}.")
    messages = api.peek(queue, count=len(texts))
    bodies = [message["text"] for message in messages]
    if bodies != list(texts):
        return report(False, "", f"'{queue}' holds {bodies}; expected {list(texts)}, in that order.")
    transient = [message["text"] for message in messages if message["delivery_mode"] != 2]
    if persistent and transient:
        return report(False, "", f"{len(transient)} of the messages are transient ({', '.join(transient)}): a restart would drop them. "
                                 "Publish with persistent=True (delivery_mode=2).")
    report(True, f"'{queue}' holds {', '.join(map(repr, texts))}, in order, each one persistent.", "")


@check
def check_received(received, expected, queue, wait=5.0):
    """Lesson 02: were ``expected`` received from ``queue`` (texts, in order), taken out and
    acknowledged, as the broker's own counters show?"""
    if received is None:
        return report(False, "", "`received` is still None: drain the queue and keep the texts of the messages.")
    if not isinstance(received, list):
        return report(False, "", f"`received` should be a list of texts, not {type(received).__name__}: "
                                 "[message.text for message in drain(...)].")
    if received and not all(isinstance(item, str) for item in received):
        kind = type(next(item for item in received if not isinstance(item, str))).__name__
        return report(False, "", f"`received` holds {kind} objects: keep their texts ([message.text for message in ...]).")
    from ..amqp import connect

    with connect(name="check") as connection:
        left = connection.channel().queue_declare(queue, passive=True).method.message_count
    if left:
        return report(False, "", f"'{queue}' still holds {left} message(s): they were not taken out of the queue. "
                                 "Drain them (with ack=True) and keep what you received.")
    def acks():
        return ((queue_or_none(queue) or {}).get("message_stats") or {}).get("ack", 0)

    poll(lambda: acks() >= len(expected), wait, interval=0.25)  # the counters reach the API a second or two later
    acked = acks()
    if acked < len(expected):
        return report(False, "", f"The broker counted {acked} acknowledgement(s) on '{queue}', not {len(expected)}: receive the "
                                 "messages with drain(..., ack=True) rather than purging or deleting them.")
    if list(received) != list(expected):
        if sorted(received) == sorted(expected):
            return report(False, "", f"The right messages, in another order: {received}. A queue hands them out first in, first out.")
        return report(False, "", f"You received {received}; the queue was given {list(expected)}.")
    report(True, f"You received {len(expected)} message(s) in the order they were sent, and the broker counted them acknowledged.", "")
