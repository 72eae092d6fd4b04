"""Lesson 06 (durability): each exercise's check against wrong answers, on the real broker."""

import pika
import pytest

from helpers import checks
from helpers.amqp import publish
from exercise_support import EVERY_RUN, fresh, verdict


PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
QUEUE = "test-durability-exercise"


@pytest.mark.parametrize("durable, persistent, count, expected", [
    (None, True, 3, "❌"), (False, True, 3, "❌"), (True, False, 3, "❌"), (True, True, 2, "❌"), (True, True, 3, "✅"),
])
def test_06_exercise_1_survives_a_restart(channel, capsys, durable, persistent, count, expected):
    fresh(channel, "test-durability-exercise")
    if durable is not None:
        channel.queue_declare(queue="test-durability-exercise", durable=durable)
        for text in ["a", "b", "c"][:count]:
            publish(channel, "test-durability-exercise", text, persistent=persistent)
    checks.check_survives_restart("test-durability-exercise", messages=3, wait=2)
    assert verdict(capsys) == expected
    fresh(channel, "test-durability-exercise")


# Each wrong answer: how the queue is declared, then (text, persistent) for each message published.
DURABLE = {"durable": True}
ALL_PERSISTENT = [("a", True), ("b", True), ("c", True)]
WRONG_ANSWERS = {
    "exclusive_queue": ({"durable": False, "exclusive": True}, ALL_PERSISTENT),
    "durable_but_exclusive": ({"durable": True, "exclusive": True}, ALL_PERSISTENT),
    "durable_but_auto_delete": ({"durable": True, "auto_delete": True}, ALL_PERSISTENT),
    "one_message_transient": (DURABLE, [("a", True), ("b", False), ("c", True)]),
    "subset_of_the_texts": (DURABLE, [("a", True), ("b", True)]),
    "extra_copies": (DURABLE, ALL_PERSISTENT * 2),
    "one_text_twice": (DURABLE, [("a", True), ("b", True), ("b", True)]),
    "other_texts_right_count": (DURABLE, [("message 1", True), ("message 2", True), ("message 3", True)]),
    "texts_sent_as_json": (DURABLE, [('"a"', True), ('"b"', True), ('"c"', True)]),
    "a_fourth_message": (DURABLE, ALL_PERSISTENT + [("d", True)]),
}


@pytest.mark.parametrize("name", list(WRONG_ANSWERS))
def test_06_exercise_1_wrong_answers(channel, capsys, name):
    declare, messages = WRONG_ANSWERS[name]
    fresh(channel, QUEUE)
    channel.queue_declare(queue=QUEUE, **declare)
    for text, persistent in messages:
        publish(channel, QUEUE, text, persistent=persistent)
    checks.check_survives_restart(QUEUE, texts=["a", "b", "c"], wait=2)
    assert verdict(capsys) == "❌"
    fresh(channel, QUEUE)  # this test's connection owns an exclusive queue: it deletes it


def test_06_exercise_1_a_quorum_queue_keeps_even_transient_messages(channel, capsys):
    fresh(channel, QUEUE)
    channel.queue_declare(queue=QUEUE, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
    for text in ["c", "a", "b"]:
        publish(channel, QUEUE, text, persistent=False)
    checks.check_survives_restart(QUEUE, texts=["a", "b", "c"], wait=2)
    assert verdict(capsys) == "✅"
    fresh(channel, QUEUE)


def test_06_exercise_1_a_second_try_after_the_given_cell(channel, capsys):
    fresh(channel, QUEUE)
    channel.queue_declare(queue=QUEUE, durable=True)
    for text in ["a", "b", "c"]:
        publish(channel, QUEUE, text, persistent=False)
    checks.check_survives_restart(QUEUE, texts=["a", "b", "c"], wait=2)
    assert verdict(capsys) == "❌"
    fresh(channel, QUEUE)  # what the given cell does
    channel.queue_declare(queue=QUEUE, durable=True)
    for text in ["a", "b", "c"]:
        publish(channel, QUEUE, text, persistent=True)
    checks.check_survives_restart(QUEUE, texts=["a", "b", "c"], wait=2)
    assert verdict(capsys) == "✅"
    fresh(channel, QUEUE)


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_06_exercise_1_checked_right_after_publishing(channel, capsys, attempt):
    """The check looks at the messages themselves (the management API's get), not at the queue's
    statistics, which lag a second or more: checked at once, the right answer passes every time."""
    fresh(channel, QUEUE)
    channel.queue_declare(queue=QUEUE, durable=True)
    for text in ["a", "b", "c"]:
        publish(channel, QUEUE, text, persistent=True)
    checks.check_survives_restart(QUEUE, texts=["a", "b", "c"], wait=2)
    assert verdict(capsys) == "✅"
    fresh(channel, QUEUE)


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_06_exercise_1_a_fourth_message_checked_right_after_publishing_fails_every_time(channel, capsys, attempt):
    """The count stands still before the check takes it: a copy published right after the three
    is counted on every run."""
    fresh(channel, QUEUE)
    channel.queue_declare(queue=QUEUE, durable=True)
    for text in ["a", "b", "c", "c"]:
        publish(channel, QUEUE, text, persistent=True)
    checks.check_survives_restart(QUEUE, texts=["a", "b", "c"], wait=2)
    assert verdict(capsys) == "❌"
    fresh(channel, QUEUE)


def publish_left_empty(channel, exchange, routing_key, body):
    ...


def publish_typed_true(channel, exchange, routing_key, body):
    channel.basic_publish(exchange, routing_key, body, properties=PERSISTENT)
    return True


def publish_right(channel, exchange, routing_key, body):
    try:
        channel.basic_publish(exchange, routing_key, body, mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    return True


@pytest.mark.parametrize("function, expected", [
    (None, "❌"), (publish_left_empty, "❌"), (publish_typed_true, "❌"), (publish_right, "✅"),
])
def test_06_exercise_2_publish_safely(capsys, function, expected):
    checks.check_publish_safely(function)
    assert verdict(capsys) == expected


# -- exercise 2: wrong answers a learner who half-understood would write, one a kind ---------------
def returns_true_without_publishing(channel, exchange, routing_key, body):
    return True


def answers_by_the_routing_key_without_publishing(channel, exchange, routing_key, body):
    return routing_key == "paid"


def not_persistent(channel, exchange, routing_key, body):
    try:
        channel.basic_publish(exchange, routing_key, body, mandatory=True)
    except pika.exceptions.UnroutableError:
        return False
    return True


def true_for_unroutable_without_mandatory(channel, exchange, routing_key, body):
    try:
        channel.basic_publish(exchange, routing_key, body, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    return True


def lets_unroutable_error_out(channel, exchange, routing_key, body):
    channel.basic_publish(exchange, routing_key, body, mandatory=True, properties=PERSISTENT)
    return True


def own_channel_without_confirms(channel, exchange, routing_key, body):
    own = channel.connection.channel()  # no confirm_delivery: mandatory returns come too late to raise
    try:
        own.basic_publish(exchange, routing_key, body, mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    finally:
        own.close()
    return True


def publishes_twice(channel, exchange, routing_key, body):
    try:
        for _ in range(2):
            channel.basic_publish(exchange, routing_key, body, mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    return True


def publishes_another_body(channel, exchange, routing_key, body):
    try:
        channel.basic_publish(exchange, routing_key, str(body), mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    return True


def default_exchange_instead_of_the_one_given(channel, exchange, routing_key, body):
    try:
        channel.basic_publish("", routing_key, body, mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    return True


def returns_strings(channel, exchange, routing_key, body):
    try:
        channel.basic_publish(exchange, routing_key, body, mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return "False"
    return "True"


def confirms_turned_on_again_inside(channel, exchange, routing_key, body):
    channel.confirm_delivery()  # harmless: the channel has confirms on already
    return publish_right(channel, exchange, routing_key, body)


@pytest.mark.parametrize("function", [
    "publish_safely", returns_true_without_publishing, answers_by_the_routing_key_without_publishing, not_persistent,
    true_for_unroutable_without_mandatory, lets_unroutable_error_out, own_channel_without_confirms, publishes_twice,
    publishes_another_body, default_exchange_instead_of_the_one_given, returns_strings,
], ids=lambda value: getattr(value, "__name__", repr(value)))
def test_06_exercise_2_wrong_answers(capsys, function):
    checks.check_publish_safely(function)
    assert verdict(capsys) == "❌"


def test_06_exercise_2_a_right_answer_that_turns_confirms_on_again(capsys):
    checks.check_publish_safely(confirms_turned_on_again_inside)
    assert verdict(capsys) == "✅"


def test_06_exercise_2_a_second_try_after_a_wrong_one(capsys):
    checks.check_publish_safely(true_for_unroutable_without_mandatory)
    assert verdict(capsys) == "❌"
    checks.check_publish_safely(publish_right)
    assert verdict(capsys) == "✅"
