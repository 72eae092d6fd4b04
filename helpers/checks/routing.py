"""Checks for lessons 07-09: routing, request/reply, dead letters.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["check_routing", "check_order_total", "check_gave_up", "check_dead_lettering", "check_kept_newest"]


@check
def check_routing(exchange, messages, expected):
    """Lesson 07: does ``exchange``, with the bindings on the broker now, route each of ``messages``
    to exactly the queues ``expected`` names? The check publishes the messages itself.

    ``expected`` maps each message's label (its routing key, or its headers as ``k=v, k=v``) to
    the queues it should reach (an empty list: no queue).
    """
    from ..amqp import connect
    from ..lab.routing import route_table, routes

    api = management_api()
    try:
        api.exchange(exchange)
    except CourseError:
        return report(False, "", f"There is no exchange '{exchange}' yet: declare it and bind your queues to it.")
    queues = sorted({queue for targets in expected.values() for queue in targets})
    missing = [queue for queue in queues if queue_or_none(queue) is None]
    if missing:
        return report(False, "", f"There is no queue named {', '.join(map(repr, missing))} yet: declare it and bind it to '{exchange}'.")
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
            return report(False, "", f"'{message}' {' and '.join(details)}. Look at the binding keys of those queues "
                                     "(run the cell above the exercise to start over).")
    report(True, f"The check published {len(expected)} messages to '{exchange}': each reached exactly the queues it should.", "")


@check
def check_order_total(order_total, order, server):
    """Lesson 08: is ``order_total`` the sum of the totals the pricing ``server`` itself sent back
    for one request per line of ``order`` (a list of (item, quantity))?"""
    if order_total is None:
        return report(False, "", "order_total is None: call the server once per line of the order, then add up reply['total'].")
    if not isinstance(order_total, (int, float)):
        return report(False, "", f"order_total should be a number, not {type(order_total).__name__}: add up reply['total'].")
    served = [(reply.get("item"), reply.get("quantity"), reply.get("total")) for reply in server.replies()]
    missing = [(item, quantity) for item, quantity in order if not any(s[0] == item and s[1] == quantity for s in served)]
    if missing:
        return report(False, "", f"The server answered no request for {missing}: call it (client.call({{'item': ..., "
                                 "'quantity': ...}})) once per line of the order.")
    totals = [next(s[2] for s in served if s[0] == item and s[1] == quantity) for item, quantity in order]
    expected = round(sum(totals), 2)
    if round(order_total, 2) != expected:
        return report(False, "", f"order_total is {order_total}; the server's replies add up to {expected:.2f}: sum reply['total'].")
    report(True, f"The order comes to {expected:.2f} €, the sum of the {len(order)} quotes the server sent back.", "")


@check
def check_gave_up(error, queue="rpc_queue"):
    """Lesson 08: did a real call to ``queue`` end with an RpcTimeout while no server consumed it?"""
    from ..lab.rpc import RpcTimeout

    if queue_or_none(queue) is not None:
        try:
            management_api().wait_for_queue(queue, timeout=3.0, consumers=0)
        except CourseError:
            return report(False, "", f"A server still consumes '{queue}': stop it first (server.stop()).")
    if error is None:
        return report(False, "", "No error was caught: did the call return, or was it not made? Stop the server, call it, "
                                 "and keep the RpcTimeout in `error`.")
    if not isinstance(error, RpcTimeout):
        return report(False, "", f"The call failed with {type(error).__name__}, not RpcTimeout: {error}")
    if getattr(error, "correlation_id", None) is None or getattr(error, "queue", None) != queue:
        return report(False, "", f"This RpcTimeout did not come from a call to '{queue}': catch the one client.call(...) raises.")
    report(True, "The client gave up on its own after its timeout, with a clear message, instead of waiting forever.", "")


@check
def check_dead_lettering(queue, dlq, wait=5.0):
    """Do messages rejected (without requeue) from ``queue`` end up in ``dlq``? Introduced in lesson 09.

    Checks the arguments, then sends a test message through: it is rejected from ``queue`` and
    looked for in ``dlq`` (and taken out of it again), so the check proves the routing works.
    """
    from ..lab.dead_letters import probe_dead_lettering

    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    arguments = found.get("arguments", {}) or {}
    if "x-dead-letter-exchange" not in arguments:
        return report(False, "", f"Queue '{queue}' has no x-dead-letter-exchange argument, so the broker drops what is rejected. "
                                 "Delete it and declare it again with one.")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: declare it with durable=True.")
    exchange = arguments.get("x-dead-letter-exchange")
    try:
        dlx = management_api().exchange(exchange)
    except CourseError:
        dlx = None
    if exchange and not dlx:
        return report(False, "", f"The dead-letter exchange '{exchange}' does not exist: declare it.")
    if exchange and not dlx.get("durable"):
        return report(False, "", f"The dead-letter exchange '{exchange}' is not durable: a restart would delete it and every "
                                 "dead letter after that would be lost. Delete it and declare it with durable=True.")
    if queue_or_none(dlq) is not None and not queue_or_none(dlq).get("durable"):
        return report(False, "", f"Queue '{dlq}' is not durable: declare it with durable=True.")
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


@check
def check_kept_newest(queue, published, limit):
    """Does ``queue`` hold at most ``limit`` messages and keep the newest of ``published``? Introduced in lesson 09."""
    from ..lab.dead_letters import peek

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
