"""Checks for lesson 14: a replay from a moment, and a stream that keeps what it should.

``check_replay`` runs the learner's ``replay(channel, stream, since)`` on a stream of its own,
made anew with random events on every try, and reads the broker's count of what it sent that
consumer and what came back acknowledged: reading everything and filtering in Python returns
the right list, but the broker sent every event. ``check_stream_retention`` reads the stream's
type, durability and retention from the management API. Each prints one ✅/❌ line (see
``helpers.checks.report``).
"""

import random
import re
import time
import uuid

import pika

from ..amqp import connect, publish
from ..lab.streams import next_second, page_views
from ..management import management_api
from ..waiting import poll
from .report import check, queue_or_none, report, run_in_thread

__all__ = ["check_replay", "check_stream_retention"]

AGE_UNITS = {"D": 86400, "h": 3600, "m": 60, "s": 1}  # Y and M (months) have no fixed length


def _why_refused(error):
    """The next step for an error a stream consumer meets, in one sentence."""
    text = str(error)
    if "prefetch count is not set" in text:
        return ("The broker refused the consumer: a stream consumer must set a prefetch first "
                "(channel.basic_qos(prefetch_count=100)).")
    if "automatic acknowledgement not supported" in text:
        return ("The broker refused the consumer and closed the connection: a stream takes no auto_ack=True. "
                "Consume with auto_ack=False and basic_ack each event (an ack only lets the next ones flow).")
    if isinstance(error, pika.exceptions.UnsupportedAMQPFieldException):
        return ("pika could not send your x-stream-offset: pass `since` as it is (a datetime), which pika sends "
                "as an AMQP timestamp; a float is no AMQP type.")
    if "basic.nack and basic.reject" in text:
        return ("The broker closed the connection: a stream takes no nack or reject, and pika's channel.cancel() rejects the "
                "events it was sent but you had not taken yet. Read until no event comes (inactivity_timeout), acking "
                "each, then cancel.")
    if "basic.get" in text:
        return ("The broker refused it: a stream cannot be read with basic_get. Subscribe with consume (or "
                "basic_consume) and the argument x-stream-offset.")
    return f"replay raised {type(error).__name__}: {error}"


def _sent_and_acked(api, stream, at_least, wait):
    """The broker's count of events it sent from ``stream`` and of acks it got back (a stream of
    the check's own, so the counts are this try's). The counts reach the API a second or so late."""
    def counted():
        stats = (api.queue(stream).get("message_stats") or {})
        sent, acked = stats.get("deliver", 0) + stats.get("deliver_no_ack", 0), stats.get("ack", 0)
        return (sent, acked) if sent >= at_least and acked >= sent else None

    found = poll(counted, wait, interval=0.25)
    if found:
        return found
    stats = api.queue(stream).get("message_stats") or {}
    return stats.get("deliver", 0) + stats.get("deliver_no_ack", 0), stats.get("ack", 0)


@check
def check_replay(replay, wait=15.0):
    """Lesson 14, exercise 1: does ``replay(channel, stream, since)`` return exactly the events
    published at or after ``since``, in order, having had the broker start there (not read from
    the start and filtered), each acknowledged, and in bounded time?"""
    if not callable(replay):
        return report(False, "", "`replay` should be your function, def replay(channel, stream, since): ... "
                                 "(run your cell, then this check).")
    stream = f"replay-check-{uuid.uuid4().hex[:8]}"
    api = management_api()
    before = page_views(random.randint(25, 40), user_prefix="before")
    after = page_views(random.randint(4, 9), start=len(before), user_prefix="after")
    with connect(name="check-replay-setup") as setup_connection:
        setup = setup_connection.channel()
        setup.confirm_delivery()  # every event is in the stream before the replay starts
        setup.queue_declare(stream, durable=True, arguments={"x-queue-type": "stream"})
        try:
            for event in before:
                publish(setup, stream, event, persistent=True, timestamp=int(time.time()))
            since = next_second()
            for event in after:
                publish(setup, stream, event, persistent=True, timestamp=int(time.time()))
            with connect(name="check-replay") as connection:
                returned = []
                thread, errors = run_in_thread(lambda: returned.append(replay(connection.channel(), stream, since)))
                thread.join(wait)
                if thread.is_alive():
                    api.close_connections_consuming(stream, reason="The check stopped a replay that did not end")
                    thread.join(5)
                    return report(False, "", f"replay did not return within {wait:g} s: stop reading once no event came "
                                             "for a moment (consume(..., inactivity_timeout=1) yields None then), and cancel.")
            if errors:
                return report(False, "", _why_refused(errors[0]))
            _judge(returned[0], before, after, since, _sent_and_acked(api, stream, len(after), wait=6.0))
        finally:
            if setup.is_open:
                setup.queue_delete(stream)


def _judge(result, before, after, since, counts):
    sent, acked = counts
    if result is None:
        return report(False, "", "replay returned None: write its body (consume from `since`, ack each event) and "
                                 "return the list of events.")
    if not isinstance(result, list):
        return report(False, "", f"replay returned {type(result).__name__}, not a list: return the events, "
                                 "[json.loads(body) for each delivery], in the order they came.")
    if result and not all(isinstance(item, dict) for item in result):
        kind = type(next(item for item in result if not isinstance(item, dict))).__name__
        return report(False, "", f"replay returned {kind} items: decode each body with json.loads(body), so the list holds the events.")
    ids_before = {event["id"] for event in before}
    early = [item for item in result if item.get("id") in ids_before]
    if early:
        return report(False, "", f"replay returned {len(early)} event(s) published before `since` ({since:%H:%M:%S}): have the "
                                 "broker start at that moment, arguments={'x-stream-offset': since}, not at 'first' or an offset.")
    if not result:
        return report(False, "", f"replay returned no event; {len(after)} were published after `since`. 'next' and 'last' start "
                                 "at the end, and a number is read as an offset: pass `since` itself as x-stream-offset.")
    if result != after:
        got = {item.get("id") for item in result}
        if got == {event["id"] for event in after} and len(result) == len(after):
            return report(False, "", "The right events in another order: a stream delivers them in the order they were written; "
                                     "keep that order.")
        if len(result) < len(after):
            return report(False, "", f"replay returned {len(result)} of the {len(after)} events published after `since`: "
                                     "read until no event comes for a moment, not a fixed number.")
        return report(False, "", f"replay returned {len(result)} events; {len(after)} were published after `since`, "
                                 "each once: return each event as it came, once.")
    if sent > len(after):
        return report(False, "", f"The right events, but the broker sent your consumer {sent} events for the {len(after)} after "
                                 "`since`: you read from further back and filtered them yourself. Let the broker start at "
                                 "the moment: arguments={'x-stream-offset': since}.")
    if acked < sent:
        return report(False, "", f"The broker sent {sent} events and got {acked} acks: basic_ack each one. A stream deletes "
                                 "nothing on an ack, but stops sending once your prefetch of unacked events is reached.")
    report(True, f"replay returned the {len(after)} events from {since:%H:%M:%S} on, in order; the broker started there "
                 f"(it sent {sent}) and got an ack for each.", "")


def _age_seconds(value):
    match = re.fullmatch(r"(\d+)([YMDhms])", value) if isinstance(value, str) else None
    if not match or match.group(2) not in AGE_UNITS:
        return None
    return int(match.group(1)) * AGE_UNITS[match.group(2)]


@check
def check_stream_retention(name, max_bytes, max_age):
    """Lesson 14, exercise 2: is ``name`` a durable stream that keeps at most ``max_bytes`` and
    events no older than ``max_age`` (x- arguments or a policy; an age given in other units,
    168h for 7D, is the same age)?"""
    if not isinstance(name, str) or not name:
        return report(False, "", "Give the stream's name as text, e.g. check_stream_retention('audit-events', ...).")
    found = queue_or_none(name)
    if found is None:
        return report(False, "", f"There is no stream named '{name}': declare it with queue_declare('{name}', durable=True, "
                                 "arguments={'x-queue-type': 'stream', ...}).")
    if found.get("type") != "stream":
        return report(False, "", f"'{name}' is a {found.get('type')} queue, not a stream: run the exercise's first cell again "
                                 "(it deletes it) and declare it with arguments={'x-queue-type': 'stream', ...}.")
    arguments = found.get("arguments") or {}
    policy = found.get("effective_policy_definition") or {}
    size = arguments.get("x-max-length-bytes", policy.get("max-length-bytes"))
    age = arguments.get("x-max-age", policy.get("max-age"))
    segment = arguments.get("x-stream-max-segment-size-bytes")
    if size is None:
        hint = (f" x-stream-max-segment-size-bytes ({segment}) sets how big each file is, not how much is kept."
                if segment is not None else "")
        return report(False, "", f"'{name}' has no size limit: add 'x-max-length-bytes': {max_bytes} (run the first cell "
                                 f"again: a stream's arguments are set when it is declared).{hint}")
    if size != max_bytes:
        return report(False, "", f"'{name}' keeps up to {size} bytes; the task asks for {max_bytes:_} bytes "
                                 f"('x-max-length-bytes': {max_bytes}).")
    if age is None:
        return report(False, "", f"'{name}' has no age limit: add 'x-max-age': '{max_age}' (a number and a unit: D days, "
                                 "h hours, m minutes, s seconds; M is months).")
    if age != max_age and (_age_seconds(age) is None or _age_seconds(age) != _age_seconds(max_age)):
        return report(False, "", f"'{name}' keeps events for {age!r}; the task asks for {max_age!r} (units: Y years, M months, "
                                 "D days, h hours, m minutes, s seconds).")
    source = "its arguments" if "x-max-length-bytes" in arguments else "a policy"
    report(True, f"'{name}' is a durable stream keeping at most {max_bytes:_} bytes and {age} of events ({source}).", "")
