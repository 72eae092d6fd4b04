"""Checks for lessons 07-09: routing, request/reply, dead letters.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["check_routing", "check_order_total", "check_gave_up", "check_dead_lettering", "check_kept_newest"]


@check
def check_routing(table, expected):
    """Did each message reach exactly the queues ``expected`` says? Introduced in lesson 07.

    ``table`` is a ``helpers.routing.route_table``; ``expected`` maps each message (its row
    label) to the queues it should reach (an empty list: no queue).
    """
    from ..routing import routes

    if table is None or not hasattr(table, "index"):
        return report(False, "", "Pass the table that route_table(...) returned.")
    got = routes(table)
    missing = [message for message in expected if message not in got]
    if missing:
        return report(False, "", f"No row for {missing} in the table: publish these messages with route_table(...).")
    for message, queues in expected.items():
        want = set(queues)
        have = got[message] - {"returned (no queue)"}
        if have != want:
            extra, absent = sorted(have - want), sorted(want - have)
            details = []
            if absent:
                details.append(f"did not reach {absent}")
            if extra:
                details.append(f"also reached {extra}")
            return report(False, "", f"'{message}' {' and '.join(details)}. Look at the binding keys of those queues.")
    report(True, f"All {len(expected)} messages reached exactly the queues they should.", "")


@check
def check_order_total(total, order):
    """Is ``total`` the sum of the price quotes of ``order`` (a list of (item, quantity))? Introduced in lesson 08."""
    from ..rpc import quote

    answers = [quote({"item": item, "quantity": quantity}) for item, quantity in order]
    expected = round(sum(answer.get("total", 0) for answer in answers), 2)
    if total is None:
        return report(False, "", "order_total is None: add up the 'total' of each reply.")
    if not isinstance(total, (int, float)):
        return report(False, "", f"order_total should be a number, not {type(total).__name__}: add up reply['total'].")
    if round(total, 2) == expected:
        return report(True, f"The order comes to {expected:.2f} €, from {len(answers)} quotes.", "")
    report(False, "", f"order_total is {total}, the quotes add up to {expected:.2f}: one call per line of the order, then sum the totals.")


@check
def check_gave_up(error, queue="rpc_queue"):
    """Did the call end with an RpcTimeout while no server consumed ``queue``? Introduced in lesson 08."""
    from ..rpc import RpcTimeout

    if queue_or_none(queue) is not None:
        try:
            management_api().wait_for_queue(queue, timeout=3.0, consumers=0)
        except CourseError:
            return report(False, "", f"A server still consumes '{queue}': stop it first (server.stop()).")
    if error is None:
        return report(False, "", "No error was caught: the call returned. Catch RpcTimeout and keep it in `error`.")
    if not isinstance(error, RpcTimeout):
        return report(False, "", f"The call failed with {type(error).__name__}, not RpcTimeout: {error}")
    report(True, "The client gave up on its own, with a clear message, instead of waiting forever.", "")


@check
def check_dead_lettering(queue, dlq, wait=5.0):
    """Do messages rejected (without requeue) from ``queue`` end up in ``dlq``? Introduced in lesson 09.

    Checks the arguments, then sends a test message through: it is rejected from ``queue`` and
    looked for in ``dlq`` (and taken out of it again), so the check proves the routing works.
    """
    from ..dead_letters import probe_dead_lettering

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


@check
def check_kept_newest(queue, published, limit):
    """Does ``queue`` hold at most ``limit`` messages and keep the newest of ``published``? Introduced in lesson 09."""
    from ..dead_letters import peek

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
