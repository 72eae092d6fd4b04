"""Checks for lessons 07-09: routing, request/reply, dead letters.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..amqp import queue_counts
from ..errors import CourseError
from ..management import management_api
from ..waiting import poll
from .report import check, queue_or_none, ready_count, report, short_lived


__all__ = ["check_routing", "check_order_total", "check_gave_up", "check_dead_lettering", "check_kept_newest"]

DIRECT_REPLY_PREFIX = "amq.rabbitmq.reply-to"


def _exchange_or_none(name):
    try:
        return management_api().exchange(name)
    except CourseError:
        return None


def _binding_keys(exchange, queue):
    """How ``queue`` is bound to ``exchange`` now, as the broker lists it: keys, or headers for a headers binding."""
    keys = []
    for row in management_api().binding_list():
        if row.get("source") == exchange and row.get("destination") == queue:
            arguments = row.get("arguments") or {}
            keys.append(", ".join(f"{k}={v}" for k, v in sorted(arguments.items())) if arguments else row.get("routing_key"))
    return sorted(keys)


@check
def check_routing(exchange, messages, expected, exchange_type=None):
    """Lesson 07: does ``exchange`` (of type ``exchange_type``, durable, with durable queues), with
    the bindings on the broker now, route each of ``messages`` to exactly the queues ``expected``
    names? The check publishes the messages itself.

    ``expected`` maps each message's label (its routing key, or its headers as ``k=v, k=v``) to
    the queues it should reach (an empty list: no queue). The messages should include keys that
    tell the asked pattern from its near-misses (a word fewer or more, another first or last word).
    """
    from ..amqp import connect
    from ..lab.routing import route_table, routes

    start_over = "run the exercise's first cell to start over (it deletes the exchange, its queues and their bindings)"
    found = _exchange_or_none(exchange)
    if found is None:
        return report(False, "", f"There is no exchange '{exchange}' yet: declare it and bind your queues to it.")
    if exchange_type and found.get("type") != exchange_type:
        return report(False, "", f"'{exchange}' is a {found.get('type')} exchange; the task asks for a {exchange_type} "
                                 f"exchange: {start_over}, then declare it with exchange_type='{exchange_type}'.")
    if not found.get("durable"):
        return report(False, "", f"Exchange '{exchange}' is not durable: a restart would delete it and its bindings. "
                                 f"{start_over[0].upper() + start_over[1:]}, then declare it with durable=True.")
    queues = sorted({queue for targets in expected.values() for queue in targets})
    missing = [queue for queue in queues if queue_or_none(queue) is None]
    if missing:
        return report(False, "", f"There is no queue named {', '.join(map(repr, missing))} yet: declare it and bind it to '{exchange}'.")
    transient = [queue for queue in queues if not queue_or_none(queue).get("durable")]
    if transient:
        return report(False, "", f"Queue {', '.join(map(repr, transient))} is not durable: {start_over}, then declare "
                                 "it with durable=True.")
    for queue in queues:
        problem = short_lived(queue_or_none(queue), f"a queue bound to '{exchange}'")
        if problem:
            return report(False, "", problem)
    with connect(name="check") as connection:
        table = route_table(connection.channel(), exchange, messages, queues)
    got = routes(table)
    for message, targets in expected.items():
        want = set(targets)
        have = got.get(message, set()) - {"returned (no queue)"}
        if have != want:
            extra, absent = sorted(have - want), sorted(want - have)
            details = []
            if absent:
                details.append(f"did not reach {absent}")
            if extra:
                details.append(f"also reached {extra}")
            bound = "; ".join(f"'{queue}' is bound with {_binding_keys(exchange, queue)}" for queue in absent + extra)
            return report(False, "", f"'{message}' {' and '.join(details)} ({bound}). A binding stays until it is "
                                     f"removed: {start_over}, then bind again.")
    report(True, f"The check published {len(expected)} messages to the {found.get('type')} exchange '{exchange}': each "
                 "reached exactly the queues it should.", "")


def _is_server(server):
    return all(hasattr(server, name) for name in ("replies", "queue", "running", "events"))


def _consumers(queue):
    """How many consumers the broker counts on ``queue`` now (AMQP, no statistics lag); None if there is no such queue."""
    counts = queue_counts(queue)
    return None if counts is None else counts.consumers


@check
def check_order_total(order_total, order, server):
    """Lesson 08: is ``order_total`` the sum of the totals the pricing ``server`` itself sent back,
    for exactly one request per line of ``order`` (a list of (item, quantity)), each asked through
    direct reply-to? The server's own record is read: what it was asked, what it answered, and
    where to (the ``reply_to`` the broker gave it)."""
    fresh = "run the exercise's first cell again (it starts a fresh server), then your cell once"
    if not _is_server(server):
        return report(False, "", f"`server` is not the pricing server ({type(server).__name__}): {fresh}.")
    if order_total is None:
        return report(False, "", "order_total is None: call the server once per line of the order, then add up reply['total'].")
    if isinstance(order_total, bool) or not isinstance(order_total, (int, float)):
        return report(False, "", f"order_total should be a number, not {type(order_total).__name__}: add up reply['total'].")
    if not server.running:
        return report(False, "", f"The server has stopped, so its record may not be this order's: {fresh}.")
    poll(lambda: _consumers(server.queue) == 1, 5.0, interval=0.2)  # an earlier server's connection may still be closing
    consumers = _consumers(server.queue)
    if consumers != 1:
        return report(False, "", f"The broker counts {consumers} consumer(s) on '{server.queue}', not this one server: "
                                 f"another server (from an earlier run?) takes requests too. Stop it, then {fresh}.")
    served = server.replies()
    wanted = [(item, quantity) for item, quantity in order]
    asked = [(reply.get("item"), reply.get("quantity")) for reply in served]
    missing = [line for line in wanted if line not in asked]
    if missing:
        return report(False, "", f"The server answered no request for {missing}: call it (client.call({{'item': ..., "
                                 "'quantity': ...}})) once per line of the order.")
    extra = [line for line in asked if line not in wanted or asked.count(line) > wanted.count(line)]
    if extra:
        return report(False, "", f"The server answered {len(asked)} requests for an order of {len(wanted)} lines "
                                 f"({sorted(set(map(tuple, extra)))} more often than the order has them): one call a line, "
                                 f"no more; {fresh}.")
    callback = sorted({str(reply.get("reply_to")) for reply in served if not str(reply.get("reply_to")).startswith(DIRECT_REPLY_PREFIX)})
    if callback:
        return report(False, "", f"The server answered to the queue {callback}, not through direct reply-to: make the client "
                                 f"with RpcClient(..., direct_reply_to=True); {fresh}.")
    expected = round(sum(reply.get("total") or 0 for reply in served), 2)
    if round(order_total, 2) != expected:
        return report(False, "", f"order_total is {order_total}; the server's replies add up to {expected:.2f}: sum reply['total'].")
    report(True, f"The order comes to {expected:.2f} €, the sum of the {len(order)} quotes the server sent back "
                 "through direct reply-to, one per line.", "")


@check
def check_gave_up(error, server, timeout=1.0):
    """Lesson 08: did a real call to the queue of ``server`` (stopped, as its own record shows, and
    with no other consumer left) end with an RpcTimeout after ``timeout`` seconds, caught in ``error``?"""
    from ..lab.rpc import RpcTimeout

    if not _is_server(server):
        return report(False, "", f"`server` is not the pricing server ({type(server).__name__}): run the exercise's "
                                 "first cell (it starts one), then stop it in your cell.")
    if server.running:
        return report(False, "", f"The server still runs and consumes '{server.queue}': stop it first (server.stop()), "
                                 "then make the call.")
    poll(lambda: not _consumers(server.queue), 5.0, interval=0.2)  # the stopped server's connection may still be closing
    consumers = _consumers(server.queue)
    if consumers:
        return report(False, "", f"The broker still counts {consumers} consumer(s) on '{server.queue}': another server "
                                 "answers. Stop it too, then make the call again.")
    stopped = [event for event in server._events() if event.get("event") == "stopped"]
    if error is None:
        return report(False, "", "No error was caught: did the call return, or was it not made? Stop the server, call it "
                                 f"with timeout={timeout:g}, and keep the RpcTimeout in `error`.")
    if not isinstance(error, RpcTimeout):
        return report(False, "", f"The call failed with {type(error).__name__}, not RpcTimeout: {error}")
    if getattr(error, "correlation_id", None) is None or getattr(error, "queue", None) != server.queue:
        return report(False, "", f"This RpcTimeout did not come from a call to '{server.queue}': catch the one "
                                 "client.call(...) raises.")
    if stopped and getattr(error, "sent_at", 0) < stopped[-1].get("time", 0):
        return report(False, "", "This RpcTimeout comes from a call made before the server stopped: stop it first, then "
                                 "make the call and catch its RpcTimeout.")
    waited = getattr(error, "timeout", None)
    if not isinstance(waited, (int, float)) or abs(waited - timeout) > 1e-6:
        return report(False, "", f"The call waited {waited} s; the task asks it to give up after {timeout:g} s: "
                                 f"client.call(..., timeout={timeout:g}).")
    report(True, f"The server stopped, and the client gave up on its own after {timeout:g} s, with a clear message, "
                 "instead of waiting forever.", "")


@check
def check_dead_lettering(queue, dlq, wait=5.0, dlx=None, dlx_type=None):
    """Do messages rejected (without requeue) from ``queue`` end up in ``dlq``? Introduced in lesson 09.

    Checks the arguments and that all of it is durable; with ``dlx`` (and ``dlx_type``), also that
    ``queue`` dead-letters to that exchange, of that type, and that its only binding is to ``dlq``.
    Then sends a test message through: it is rejected from ``queue`` and looked for in ``dlq``
    (and taken out of it again), so the check proves the routing works.
    """
    from ..lab.dead_letters import probe_dead_lettering

    start_over = "run the exercise's first cell (it deletes all three) and declare them again"
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    arguments = found.get("arguments", {}) or {}
    if "x-dead-letter-exchange" not in arguments:
        return report(False, "", f"Queue '{queue}' has no x-dead-letter-exchange argument, so the broker drops what is rejected. "
                                 "Delete it and declare it again with one.")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: declare it with durable=True.")
    problem = short_lived(found, "a queue whose failed messages must be dead-lettered")
    if problem:
        return report(False, "", problem)
    exchange = arguments.get("x-dead-letter-exchange")
    if dlx is not None and exchange != dlx:
        shown = "'' (the default exchange)" if exchange == "" else f"'{exchange}'"
        return report(False, "", f"Queue '{queue}' dead-letters to {shown}; the task asks for the exchange '{dlx}': "
                                 f"{start_over}, with x-dead-letter-exchange='{dlx}'.")
    if exchange == "":
        if not arguments.get("x-dead-letter-routing-key"):
            return report(False, "", f"Queue '{queue}' dead-letters to the default exchange ('') with no "
                                     "x-dead-letter-routing-key: a rejected message would go back to the queue named by "
                                     f"its own routing key. Add x-dead-letter-routing-key='{dlq}', or use an exchange.")
    else:
        dlx_found = _exchange_or_none(exchange) if isinstance(exchange, str) else None
        if not dlx_found:
            return report(False, "", f"The dead-letter exchange '{exchange}' does not exist: declare it.")
        if not dlx_found.get("durable"):
            return report(False, "", f"The dead-letter exchange '{exchange}' is not durable: a restart would delete it and every "
                                     "dead letter after that would be lost. Delete it and declare it with durable=True.")
        if dlx_type and dlx_found.get("type") != dlx_type:
            return report(False, "", f"'{exchange}' is a {dlx_found.get('type')} exchange; the task asks for a {dlx_type} one: "
                                     f"{start_over}, with exchange_type='{dlx_type}'.")
    dead = queue_or_none(dlq)
    if dead is None:
        return report(False, "", f"There is no queue named '{dlq}' yet: declare it and bind it to the dead-letter exchange.")
    if not dead.get("durable"):
        return report(False, "", f"Queue '{dlq}' is not durable: declare it with durable=True.")
    problem = short_lived(dead, "a queue that keeps dead letters")
    if problem:
        return report(False, "", problem)
    if dlx:
        bound = sorted({row.get("destination") for row in management_api().binding_list() if row.get("source") == dlx})
        if dlq not in bound:
            return report(False, "", f"Queue '{dlq}' is not bound to '{dlx}' (bound to it: {bound or 'nothing'}): "
                                     f"channel.queue_bind('{dlq}', '{dlx}').")
        if bound != [dlq]:
            return report(False, "", f"'{dlx}' also routes to {[name for name in bound if name != dlq]}: each dead letter "
                                     f"would be copied there too. Bind only '{dlq}' ({start_over}).")
    outcome, death = probe_dead_lettering(queue, dlq, wait=wait)
    if outcome == "not empty":
        return report(False, "", f"Queue '{queue}' holds messages: empty it first (drain), the check sends a test message through it.")
    if outcome == "lost":
        return report(False, "", f"A message rejected from '{queue}' did not reach '{dlq}' within {wait:g} s: does the exchange "
                                 f"'{exchange}' exist and route to '{dlq}' (a binding, or x-dead-letter-routing-key)?")
    if death.get("reason") != "rejected" or death.get("queue") != queue:
        return report(False, "", f"A message reached '{dlq}', but its x-death says {death}, not reason 'rejected' from '{queue}'.")
    report(True, f"A message rejected from '{queue}' arrived in '{dlq}' with x-death reason 'rejected'.", "")


@check
def check_kept_newest(queue, published, limit, dropped=None):
    """Does durable ``queue`` hold at most ``limit`` messages and keep the newest of ``published``,
    in order, with exactly ``published`` put in it? What the queue pushed out is seen in
    ``dropped`` (``<queue>.dropped``), where the exercise's first cell has a policy dead-letter it:
    the texts kept and the texts pushed out, together, are everything that was published, on every
    RabbitMQ version and without the broker's statistics. Introduced in lesson 09."""
    from ..lab.dead_letters import peek

    dropped = dropped or f"{queue}.dropped"
    start_over = f"run the exercise's first cell (it deletes '{queue}'), then your cell once"
    published = [str(text) for text in published]
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    if queue_or_none(dropped) is None:
        return report(False, "", f"There is no queue '{dropped}': run the exercise's first cell (it makes it, with the "
                                 f"policy that sends there what '{queue}' pushes out), then your cell.")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: {start_over}, declaring it with durable=True.")
    arguments = found.get("arguments", {}) or {}
    if arguments.get("x-max-length") != limit:
        return report(False, "", f"Queue '{queue}' should have x-max-length={limit} (its arguments: {arguments}): {start_over}.")
    overflow = arguments.get("x-overflow", "drop-head")
    if overflow != "drop-head":
        return report(False, "", f"With x-overflow='{overflow}' a full queue refuses new messages and keeps the oldest: "
                                 "the mode that drops the oldest is 'drop-head'.")
    if any(key.startswith("x-dead-letter") for key in arguments):
        return report(False, "", f"Queue '{queue}' has dead-letter arguments of its own ({arguments}): the task asks for "
                                 f"none, and they would override the first cell's policy: {start_over}.")
    expected = published[-limit:]
    try:
        management_api().wait_for_queue(queue, timeout=5.0, messages=len(expected))
    except CourseError:
        pass
    pushed_out_expected = published[:-limit]
    ready_count(dropped, len(pushed_out_expected), wait=5.0, steady=0.5)  # dead-lettered a moment after each publish
    kept = [message["text"] for message in peek(queue, count=limit + 5)]
    pushed_out = [message["text"] for message in peek(dropped, count=len(published) * 3 + 10)]
    if kept != expected:
        return report(False, "", f"Queue '{queue}' holds {kept}; it should hold the newest {limit}: {expected}.")
    if pushed_out != pushed_out_expected:
        return report(False, "", f"Queue '{queue}' pushed out {pushed_out} (they are in '{dropped}'); publishing the "
                                 f"{len(published)} texts of the list, each once and in order, pushes out "
                                 f"{pushed_out_expected}: {start_over}.")
    report(True, f"Queue '{queue}' was given the {len(published)} texts, keeps the newest {limit}: {expected}, and pushed "
                 f"out {pushed_out_expected} (now in '{dropped}').", "")
