"""Lesson 14 (streams): each exercise's check against wrong answers, on the real broker.

Exercise 1's check makes a stream of its own with random events on every try, so a typed-in
list cannot match; it reads from the broker how many events it sent the learner's consumer and
how many came back acked."""

import json

import pytest

from helpers import checks
from helpers.management import management_api
from helpers.waiting import wait_until
from exercise_support import fresh, said, verdict


# -- exercise 1: replay from a moment ------------------------------------------------------------

def replay_right(channel, stream, since):  # the lesson's solution
    channel.basic_qos(prefetch_count=100)
    events = []
    for method, properties, body in channel.consume(stream, arguments={"x-stream-offset": since},
                                                    inactivity_timeout=1):
        if method is None:
            break
        events.append(json.loads(body))
        channel.basic_ack(method.delivery_tag)
    channel.cancel()
    return events


def replay_from(offset, *, prefetch=100, ack=True, auto_ack=False, keep=lambda properties: True, most=None,
                decode=json.loads, idle=1):
    """A replay that gets one thing wrong: where it starts, its prefetch, its acks, what it keeps."""
    def replay(channel, stream, since):
        if prefetch:
            channel.basic_qos(prefetch_count=prefetch)
        start = offset(since) if callable(offset) else offset
        events = []
        for method, properties, body in channel.consume(stream, auto_ack=auto_ack, arguments={"x-stream-offset": start},
                                                        inactivity_timeout=idle):
            if method is None:
                break
            if keep(properties):
                events.append(decode(body))
            if ack and not auto_ack:
                channel.basic_ack(method.delivery_tag)
            if most is not None and len(events) >= most:
                break
        channel.cancel()
        return events
    return replay


def replay_forever(channel, stream, since):  # no inactivity_timeout: it waits for the next event
    channel.basic_qos(prefetch_count=100)
    for method, properties, body in channel.consume(stream, arguments={"x-stream-offset": since}):
        channel.basic_ack(method.delivery_tag)


def from_first_filtered(channel, stream, since):
    """Reads everything and keeps the events stamped at or after ``since``: the right list, but
    the broker sent the whole stream."""
    keep = replay_from("first", keep=lambda properties: properties.timestamp >= int(since.timestamp()))
    return keep(channel, stream, since)


WRONG_REPLAYS = {
    "left_empty": None,
    "a_typed_list": [{"id": "view-12345678", "n": 0, "page": "/", "user": "after-1"}],
    "from_first": replay_from("first"),
    "from_first_filtered_by_its_timestamp": from_first_filtered,
    "from_next": replay_from("next"),
    "from_last": replay_from("last"),
    "a_guessed_offset": replay_from(10),
    "seconds_as_a_number": replay_from(lambda since: int(since.timestamp())),
    "seconds_as_a_float": replay_from(lambda since: since.timestamp()),
    "no_prefetch": replay_from(lambda since: since, prefetch=0),
    "auto_ack": replay_from(lambda since: since, auto_ack=True),
    "no_ack": replay_from(lambda since: since, ack=False),
    "no_ack_prefetch_1": replay_from(lambda since: since, ack=False, prefetch=1),
    "a_fixed_count": replay_from(lambda since: since, most=3),
    "a_fixed_count_with_prefetch_3": replay_from(lambda since: since, most=3, prefetch=3),
    "bodies_not_events": replay_from(lambda since: since, decode=lambda body: body),
    "never_ends": replay_forever,
    "basic_get": lambda channel, stream, since: [channel.basic_get(stream, auto_ack=False)],
}


@pytest.mark.parametrize("answer", WRONG_REPLAYS.values(), ids=WRONG_REPLAYS.keys())
def test_14_exercise_1_wrong_answers(capsys, answer):
    checks.check_replay(answer, wait=5.0)
    assert verdict(capsys) == "❌"


def test_14_exercise_1_names_what_each_mistake_gets_wrong(capsys):
    expected = {
        "from_first": "before `since`",
        "from_first_filtered_by_its_timestamp": "filtered them yourself",
        "seconds_as_a_number": "read as an offset",
        "seconds_as_a_float": "pass `since` as it is",
        "no_prefetch": "must set a prefetch",
        "auto_ack": "no auto_ack=True",
        "no_ack": "basic_ack each one",
        # pika's cancel rejects the events sent ahead, which RabbitMQ 3.10 refuses on a stream; 4.0 takes it
        "a_fixed_count": ("no nack or reject", "not a fixed number"),
        "basic_get": "cannot be read with basic_get",
        "bodies_not_events": "json.loads(body)",
        "never_ends": "did not return within",
    }
    for name, words in expected.items():
        checks.check_replay(WRONG_REPLAYS[name], wait=5.0)
        line = said(capsys)
        assert any(part in line for part in ([words] if isinstance(words, str) else words)), (name, line)


def test_14_exercise_1_right_answer_on_every_try(capsys):
    for _ in range(3):
        checks.check_replay(replay_right)
        assert said(capsys).startswith("✅")


def test_14_exercise_1_a_second_try_after_a_wrong_one(capsys):
    checks.check_replay(WRONG_REPLAYS["from_first"], wait=5.0)
    assert verdict(capsys) == "❌"
    checks.check_replay(replay_right)
    assert verdict(capsys) == "✅"


def test_14_exercise_1_leaves_no_stream_behind(capsys):
    checks.check_replay(replay_right)
    checks.check_replay(WRONG_REPLAYS["auto_ack"], wait=5.0)
    checks.check_replay(WRONG_REPLAYS["never_ends"], wait=3.0)
    capsys.readouterr()
    assert not [queue for queue in management_api().queue_list() if queue["name"].startswith("replay-check-")]


# -- exercise 2: a stream that keeps 1 MB and 7 days ------------------------------------------

STREAM = {"x-queue-type": "stream"}
RIGHT = {**STREAM, "x-max-length-bytes": 1_000_000, "x-max-age": "7D"}


@pytest.mark.parametrize("arguments, expected", [
    (None, "❌"),  # nothing declared
    ({"x-max-length-bytes": 1_000_000}, "❌"),  # a classic queue with a size limit
    ({"x-queue-type": "quorum", "x-max-length-bytes": 1_000_000}, "❌"),
    (STREAM, "❌"),  # no retention: it keeps everything
    ({**STREAM, "x-max-age": "7D"}, "❌"),  # age only
    ({**STREAM, "x-max-length-bytes": 1_000_000}, "❌"),  # size only
    ({**STREAM, "x-stream-max-segment-size-bytes": 1_000_000, "x-max-age": "7D"}, "❌"),  # a file's size, not retention
    ({**RIGHT, "x-max-length-bytes": 1_048_576}, "❌"),  # a mebibyte
    ({**RIGHT, "x-max-length-bytes": 1_000}, "❌"),  # a kilobyte
    ({**RIGHT, "x-max-age": "7h"}, "❌"),
    ({**RIGHT, "x-max-age": "7m"}, "❌"),  # minutes
    ({**RIGHT, "x-max-age": "7M"}, "❌"),  # months
    ({**RIGHT, "x-max-age": "1D"}, "❌"),
    ({**RIGHT, "x-max-age": "8D"}, "❌"),
    (RIGHT, "✅"),
    ({**RIGHT, "x-max-age": "168h"}, "✅"),  # the same age in hours
])
def test_14_exercise_2(capsys, channel, arguments, expected):
    fresh(channel, "audit-events")
    if arguments is not None:
        channel.queue_declare("audit-events", durable=True, arguments=arguments)
    checks.check_stream_retention("audit-events", max_bytes=1_000_000, max_age="7D")
    assert verdict(capsys) == expected
    fresh(channel, "audit-events")


def test_14_exercise_2_retention_by_a_policy_counts(capsys, channel):
    api = management_api()
    fresh(channel, "audit-events")
    api.put("policies/%2F/audit-retention", {"pattern": "^audit-events$", "apply-to": "queues", "priority": 1,
                                              "definition": {"max-length-bytes": 1_000_000, "max-age": "7D"}})
    try:
        channel.queue_declare("audit-events", durable=True, arguments=STREAM)
        wait_until(lambda: (management_api().queue("audit-events").get("effective_policy_definition") or {}).get("max-age"),
                   "the policy to apply", timeout=10)
        checks.check_stream_retention("audit-events", max_bytes=1_000_000, max_age="7D")
        assert "a policy" in said(capsys)
    finally:
        api.delete("policies/%2F/audit-retention")
        fresh(channel, "audit-events")
