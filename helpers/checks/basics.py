"""Checks for lessons 00-02: the broker, queues, messages and bindings.

Each check prints one ✅/❌ line (see ``helpers.checks.report``) and reads what the broker holds.
"""

import json

import pandas as pd

from ..amqp import connect, queue_counts
from ..errors import CourseError
from ..management import MissingTag, management_api
from ..waiting import poll
from .report import SETTLE, check, queue_or_none, ready_count, report, short_lived

__all__ = ["check_broker_version", "check_enabled_plugins", "check_audit_trail", "check_binding",
           "check_messages", "check_received"]


class AnotherBroker:
    """The course's management API, answering as another broker would: a check calls the learner's
    function on it, so that only code that reads the API, not a value typed in, gives the right
    answer for both. Its overview gives another version; its nodes have one more plugin than the
    real ones, or, given ``plugins``, it has one node, made up, with exactly those (for an account
    that may not read the real node: a workshop attendee's)."""

    VERSION = "9.9.9-check"
    PLUGIN = "rabbitmq_check_plugin"

    def __init__(self, api, plugins=None):
        self.api = api
        self.plugins = None if plugins is None else list(plugins)

    def __getattr__(self, name):
        return getattr(self.api, name)

    def get(self, path, **params):
        if path == "nodes" and self.plugins is not None:
            return [{"name": "made-up@localhost", "enabled_plugins": list(self.plugins), "running": True}]
        found = self.api.get(path, **params)
        if path == "overview":
            found = {**found, "rabbitmq_version": self.VERSION}
        if path == "nodes":
            found = [{**node, "enabled_plugins": [*node.get("enabled_plugins", []), self.PLUGIN]} for node in found]
        return found

    def overview(self):
        return self.get("overview")

    def node(self):
        return self.get("nodes")[0]

    def nodes(self):
        return pd.DataFrame(self.get("nodes"))


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
        return report(False, "", f"Asked about another broker (its overview says 'rabbitmq_version': {AnotherBroker.VERSION!r}), "
                                 f"broker_version gave {other!r}: return api.overview()['rabbitmq_version'] of the `api` it "
                                 "is given, not a value typed in, another key, or another API object.")
    report(True, f"broker_version(api) reads the version from the broker: this one runs RabbitMQ {actual}.", "")


def _node_plugins(api, wait):
    """The first node's enabled plugins, once the API lists them (a node that has just started
    lists its plugins only with its first statistics, a few seconds in)."""
    found = poll(lambda: api.node().get("enabled_plugins"), wait, interval=0.25)
    if found is None:
        raise CourseError(f"The broker did not list its node's plugins within {wait:g} s: run this check again in a moment.")
    return sorted(found)


def _plugins_problem(answer, actual, where):
    """What is wrong with ``answer``, the plugins enabled_plugins(api) returned for a node that has
    ``actual`` (``where`` names that node), or None."""
    if not isinstance(answer, (list, tuple)):
        return (f"enabled_plugins(api) returned {type(answer).__name__}, not a list: the column "
                "'enabled_plugins' of api.nodes() holds one list per node; return the first one.")
    if not all(isinstance(plugin, str) for plugin in answer):
        return (f"enabled_plugins(api) returned {answer!r}: a list of the plugins' names (strings), "
                "the first node's cell of the column 'enabled_plugins', not the column or a row.")
    if sorted(answer) != sorted(actual):
        extra = sorted(set(answer) - set(actual)) or ([p for p in set(answer) if answer.count(p) > 1])
        missing = sorted(set(actual) - set(answer))
        detail = "; ".join(part for part in (f"missing {missing}" if missing else "",
                                             f"not enabled or listed twice: {sorted(extra)}" if extra else "") if part)
        return f"enabled_plugins(api) returned {sorted(answer)}; {where} has {sorted(actual)} ({detail})."
    return None


@check
def check_enabled_plugins(enabled_plugins, wait=10.0):
    """Lesson 00: does ``enabled_plugins(api)`` return the plugins enabled on the node, as a list?
    On a workshop's shared broker, where the attendee's account may not read the node, it is
    judged on two made-up nodes instead (AnotherBroker with plugins)."""
    problem = _not_written(enabled_plugins, "enabled_plugins", "(api)")
    if problem:
        return report(False, "", problem)
    api = management_api()
    try:
        actual = _node_plugins(api, wait)
    except MissingTag:
        return _judge_on_made_up_nodes(enabled_plugins, api)
    problem = _plugins_problem(enabled_plugins(api), actual, "the node")
    if problem:
        return report(False, "", problem)
    other = enabled_plugins(AnotherBroker(api))
    if not isinstance(other, (list, tuple)) or sorted(other) != sorted([*actual, AnotherBroker.PLUGIN]):
        return report(False, "", f"On a broker with one more plugin ({AnotherBroker.PLUGIN}), enabled_plugins gave {other!r}: "
                                 "read the list from the `api` it is given (api.nodes()), do not type it in.")
    report(True, f"enabled_plugins(api) reads the node's plugins: {', '.join(actual)}.", "")


def _judge_on_made_up_nodes(enabled_plugins, api):
    """check_enabled_plugins for an account that may not read the node: two made-up nodes."""
    cases = [["rabbitmq_management", "rabbitmq_prometheus"],
             ["rabbitmq_management", "rabbitmq_prometheus", AnotherBroker.PLUGIN]]
    for number, plugins in enumerate(cases, start=1):
        try:
            answer = enabled_plugins(AnotherBroker(api, plugins))
        except Exception as error:  # noqa: BLE001 - the learner's code, said in one line
            return report(False, "", f"enabled_plugins(api) raised {type(error).__name__}: {error} on a made-up node "
                                     f"with {plugins}. Your account cannot see the room's node, so the check made up "
                                     "two; read the list from the `api` it is given, api.nodes()['enabled_plugins'][0].")
        problem = _plugins_problem(answer, plugins, f"made-up node {number} of 2 (your account cannot see the room's node)")
        if problem:
            return report(False, "", problem)
    report(True, "enabled_plugins(api) reads a node's plugins: your account cannot see the room's node, so the check made "
                 "up two with different plugins, and it read each one's.", "")


# -- what the broker holds: exchanges, bindings, queue depths -------------------------------------

def _exchange_problem(exchange, kind):
    """What is wrong with ``exchange`` (missing, another type, not durable), or None."""
    try:
        found = management_api().exchange(exchange)
    except CourseError:
        return f"There is no exchange '{exchange}': run the exercise's first cell again, it makes it."
    if found.get("type") != kind:
        return (f"'{exchange}' is a {found.get('type')} exchange, not a {kind} one: an exchange keeps its type. "
                "Run the exercise's first cell again (it makes the exchange anew) and do not declare it yourself.")
    if not found.get("durable"):
        return f"'{exchange}' is not durable: run the exercise's first cell again (it makes it durable) and do not declare it yourself."
    return None


def _bindings_to(queue):
    """The bindings that route to ``queue``, as (exchange, routing key) pairs, the default exchange's left out."""
    return sorted((row.get("source"), row.get("routing_key")) for row in management_api().binding_list()
                  if row.get("destination") == queue and row.get("destination_type") == "queue" and row.get("source"))


def _bindings_problem(exchange, queue, wanted, kept=()):
    """None if ``queue`` is bound exactly with ``wanted`` and ``kept`` keys, from ``exchange`` only."""
    found = _bindings_to(queue)
    mine = {key for source, key in found if source == exchange}
    others = [f"{source} ({key!r})" for source, key in found if source != exchange]
    if wanted not in mine:
        if not mine:
            return (f"'{queue}' is not bound to '{exchange}' with '{wanted}': "
                    f"channel.queue_bind(queue='{queue}', exchange='{exchange}', routing_key='{wanted}').")
        return f"'{queue}' is bound to '{exchange}' with {sorted(mine)}, not with '{wanted}'."
    gone = [key for key in kept if key not in mine]
    if gone:
        return (f"The binding with {gone} is gone: '{queue}' should keep it and get '{wanted}' as well (a queue can have "
                "several bindings). Run the exercise's first cell again, then bind only the new key.")
    extra = sorted(mine - {wanted, *kept})
    if extra:
        return (f"'{queue}' is also bound to '{exchange}' with {extra}: a direct exchange compares keys word for word, so "
                f"only '{wanted}'{' and ' + repr(list(kept)) if kept else ''} belong here. Run the exercise's first cell "
                "again (it removes other bindings), then bind only the key asked.")
    if others:
        return (f"'{queue}' is also bound to other exchanges: {', '.join(others)}. Only '{exchange}' should route to it: "
                "run the exercise's first cell again, then bind it to that exchange only.")
    return None


class _Depth:
    """A queue's ready messages as the broker counts them right now (AMQP, no statistics lag)."""

    def __init__(self):
        self.connection = connect(name="check")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.connection.is_open:
            self.connection.close()

    def __call__(self, queue):
        found = queue_counts(queue, self.connection)
        return None if found is None else found.messages

    def consumers(self, queue):
        found = queue_counts(queue, self.connection)
        return None if found is None else found.consumers


def _event_problem(text, event):
    """What is wrong with a message body meant to be ``event`` as JSON, or None."""
    try:
        body = json.loads(text)
    except ValueError:
        return f"The message's body is {text[:60]!r}, not the event as JSON: publish(..., body=event) sends a dict as JSON."
    if body == event:
        return None
    if not isinstance(body, dict):
        return f"The message's body is {body!r}, not the event {event!r}: publish the dict itself (body=event)."
    missing = [key for key in event if key not in body]
    wrong = [key for key in event if key in body and body[key] != event[key]]
    extra = [key for key in body if key not in event]
    parts = [f"missing {missing}" if missing else "", f"other values in {wrong}" if wrong else "",
             f"fields the event has not: {extra}" if extra else ""]
    return f"The message's body is {body!r}; the event is {event!r} ({'; '.join(p for p in parts if p)}): publish body=event."


@check
def check_audit_trail(exchange, queue, routing_key, event=None, exchange_type="direct", wait=5.0):
    """Lesson 01: is durable ``queue`` bound to the durable ``exchange`` (of ``exchange_type``) with
    ``routing_key`` only, and does it hold one persistent message, ``event`` as JSON (if given), that
    came through that exchange with that key (not published straight to the queue)?"""
    problem = _exchange_problem(exchange, exchange_type)
    if problem:
        return report(False, "", problem)
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: an audit trail must survive a restart. Delete it "
                                 f"(run the cell above this exercise) and declare it with durable=True.")
    problem = short_lived(found, "an audit trail")
    if problem:
        return report(False, "", problem)
    problem = _bindings_problem(exchange, queue, routing_key)
    if problem:
        return report(False, "", problem)
    have = ready_count(queue, 1, wait=wait, steady=SETTLE)  # a copy published right after counts too
    if have != 1:
        hint = (f"publish one '{routing_key}' event to '{exchange}'" if have == 0 else
                "one event is one message: run the exercise's first cell again, then publish once")
        return report(False, "", f"'{queue}' holds {have} message(s), not 1: {hint}.")
    [message] = management_api().peek(queue, count=1)
    if message["exchange"] != exchange:
        return report(False, "", f"The message in '{queue}' was published to the exchange {message['exchange'] or '(default)'!r}, "
                                 f"straight to the queue: publish it to '{exchange}' and let the binding route it.")
    if message["routing_key"] != routing_key:
        return report(False, "", f"The message came with the routing key '{message['routing_key']}', not '{routing_key}'.")
    if message["delivery_mode"] != 2:
        return report(False, "", "The event is transient (delivery mode 1): a restart would drop it from the audit trail. "
                                 "Run the exercise's first cell again and publish it with persistent=True (delivery_mode=2).")
    if event is not None:
        problem = _event_problem(message["text"], event)
        if problem:
            return report(False, "", problem)
    report(True, f"'{queue}' is durable, bound to '{exchange}' with '{routing_key}' only, and holds the event routed there, "
                 "persistent.", "")


@check
def check_binding(exchange, queue, routing_key, keep=(), exchange_type="direct"):
    """Lesson 01: is ``queue`` bound to ``exchange`` (durable, of ``exchange_type``) with
    ``routing_key``, still with the keys in ``keep``, and with nothing else?"""
    problem = _exchange_problem(exchange, exchange_type)
    if problem:
        return report(False, "", problem)
    if queue_or_none(queue) is None:
        return report(False, "", f"There is no queue named '{queue}': run the exercise's first cell again, it makes it.")
    problem = _bindings_problem(exchange, queue, routing_key, kept=list(keep))
    if problem:
        return report(False, "", problem)
    keys = ", ".join(repr(key) for key in [*keep, routing_key])
    report(True, f"'{exchange}' routes {keys} to '{queue}', and nothing else does.", "")


@check
def check_messages(queue, texts, persistent=True, wait=3.0):
    """Lesson 02: does durable ``queue`` hold exactly ``texts``, in order, each persistent (delivery mode 2)?"""
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}': declare it (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: its messages would not survive a restart, persistent or not. "
                                 "Run the exercise's first cell again (it declares it durable), then publish.")
    problem = short_lived(found, "a queue whose messages must last")
    if problem:
        return report(False, "", problem)
    texts = list(texts)
    have = ready_count(queue, len(texts), wait=wait, steady=SETTLE)
    messages = management_api().peek(queue, count=max(have, len(texts)) + 1)
    bodies = [message["text"] for message in messages]
    if have != len(texts):
        hint = ("publish the missing ones" if have < len(texts) else
                "each text once: run the exercise's first cell again to empty it, then publish once")
        return report(False, "", f"'{queue}' holds {have} message(s), {bodies}, not {len(texts)}: {hint}.")
    if bodies != texts:
        return report(False, "", f"'{queue}' holds {bodies}; expected {texts}, in that order.")
    transient = [message["text"] for message in messages if message["delivery_mode"] != 2]
    if persistent and transient:
        return report(False, "", f"{len(transient)} of the messages are transient ({', '.join(transient)}): a restart would drop them. "
                                 "Publish with persistent=True (delivery_mode=2).")
    report(True, f"'{queue}' holds {', '.join(map(repr, texts))}, in order, each one persistent.", "")


def _acks_seen(channel):
    """What the broker counted on ``channel``: messages acked, taken with auto-ack (no ack at all),
    and held unacknowledged now; None while it does not list the channel with its statistics."""
    found = management_api().channel_of(channel)
    if found is None:
        return None
    stats = found.get("message_stats") or {}
    return {"acked": stats.get("ack", 0), "auto": stats.get("deliver_no_ack", 0) + stats.get("get_no_ack", 0),
            "unacked": found.get("messages_unacknowledged", 0)}


_CHANNELS_CHECKED = set()  # (connection id, channel number): one verdict per try


@check
def check_received(received, expected, queue, channel, wait=6.0):
    """Lesson 02: were ``expected`` received from ``queue`` (texts, in order), taken out and each
    acknowledged on ``channel``, as the broker's own counters of that channel show (auto-ack is no
    ack)? The exercise's given cell opens ``channel`` anew, so its counters start at zero on every
    try: a queue's own counters carry figures over from an earlier queue of the same name."""
    if received is None:
        return report(False, "", "`received` is still None: drain the queue and keep the texts of the messages.")
    if not isinstance(received, list):
        return report(False, "", f"`received` should be a list of texts, not {type(received).__name__}: "
                                 "[message.text for message in drain(...)].")
    if received and not all(isinstance(item, str) for item in received):
        kind = type(next(item for item in received if not isinstance(item, str))).__name__
        return report(False, "", f"`received` holds {kind} objects: keep their texts ([message.text for message in ...]).")
    expected = list(expected)
    if not getattr(channel, "is_open", False):
        return report(False, "", "`channel` is closed (an error closes it, such as acking a message twice or one taken with "
                                 "auto_ack=True): run the exercise's first cell again, which opens a new one, then your cell.")
    this_try = (getattr(channel.connection, "course_id", None), channel.channel_number)
    if this_try in _CHANNELS_CHECKED:
        # its counters hold what an earlier answer did: a list typed in now would get its ✅
        return report(False, "", "This check already judged what was done on this `channel`: run the exercise's first cell "
                                 "again (it opens a new channel and refills the queue), then your cell, then this one.")
    _CHANNELS_CHECKED.add(this_try)
    with _Depth() as depth:
        left, consumers = depth(queue), depth.consumers(queue)
    if left is None:
        return report(False, "", f"There is no queue named '{queue}': run the exercise's first cell again, it makes it with its messages.")
    if consumers:
        return report(False, "", f"'{queue}' still has {consumers} consumer(s) registered: your consume did not end. Take the "
                                 "messages with drain(...), which stops after its idle_timeout or deadline and cancels its consumer.")
    if left:
        return report(False, "", f"'{queue}' still holds {left} message(s): they were not taken out of the queue. "
                                 "Drain them all (with ack=True) and keep what you received.")
    # the counters reach the API a second or so after the acks; unacked is read only when the acks fall short
    def accounted():
        now = _acks_seen(channel)
        return now if now and now["acked"] + now["auto"] >= len(expected) else None

    seen = poll(accounted, wait, interval=0.25) or _acks_seen(channel) or {"acked": 0, "auto": 0, "unacked": 0}
    if seen["auto"]:
        return report(False, "", f"{seen['auto']} message(s) were taken with auto_ack=True: the broker deleted them as it sent "
                                 "them, before your code had them, so none was acknowledged. Run the exercise's first cell "
                                 "again and drain with ack=True (basic_ack after taking each).")
    if seen["acked"] < len(expected) and seen["unacked"]:
        return report(False, "", f"The broker still counts {seen['unacked']} message(s) unacknowledged on your channel: taken but "
                                 "never acked, they go back to the queue when it closes. Ack each one (drain(..., ack=True)).")
    if seen["acked"] != len(expected):
        return report(False, "", f"The broker counted {seen['acked']} acknowledgement(s) on `channel`, not {len(expected)}: run the "
                                 "exercise's first cell again, then receive the messages on `channel` with drain(..., ack=True), "
                                 "rather than purging or deleting them.")
    if received != expected:
        if sorted(received) == sorted(expected):
            return report(False, "", f"The right messages, in another order: {received}. A queue hands them out first in, first out.")
        return report(False, "", f"You received {received}; the queue was given {expected}. Keep the texts of all the "
                                 "messages you drain, once each.")
    report(True, f"You received {len(expected)} message(s) in the order they were sent, and the broker counted each acknowledged.", "")
