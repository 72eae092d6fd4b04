"""Lesson 02 (hello, queue): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import drain, publish
from exercise_support import verdict, fresh


@pytest.fixture
def hello(channel):
    fresh(channel, "hello")
    channel.queue_declare(queue="hello", durable=True)
    yield channel
    fresh(channel, "hello")


@pytest.mark.parametrize("texts, persistent, expected", [
    ([], True, "❌"), (["one", "two", "three"], False, "❌"), (["one", "three", "two"], True, "❌"),
    (["one", "two", "three", "one"], True, "❌"), (["one", "two", "three"], True, "✅"),
])
def test_02_exercise_1_three_persistent_messages(hello, capsys, texts, persistent, expected):
    for text in texts:
        publish(hello, "hello", text, persistent=persistent)
    checks.check_messages("hello", ["one", "two", "three"], persistent=True)
    assert verdict(capsys) == expected


def given_three(channel):
    fresh(channel, "hello")
    channel.queue_declare(queue="hello", durable=True)
    for text in ["one", "two", "three"]:
        publish(channel, "hello", text, persistent=True)


def received_left_empty(channel):
    return None


def received_typed_in_queue_full(channel):
    return ["one", "two", "three"]


def received_typed_in_queue_purged(channel):
    channel.queue_purge("hello")
    return ["one", "two", "three"]


def received_messages_not_texts(channel):
    return drain(channel, "hello", idle_timeout=1.0, deadline=2)


def received_right(channel):
    return [message.text for message in drain(channel, "hello", idle_timeout=1.0, deadline=2)]


@pytest.mark.parametrize("answer, expected", [
    (received_left_empty, "❌"), (received_typed_in_queue_full, "❌"), (received_typed_in_queue_purged, "❌"),
    (received_messages_not_texts, "❌"), (received_right, "✅"),
])
def test_02_exercise_2_received(hello, capsys, answer, expected):
    given_three(hello)
    checks.check_received(answer(hello), ["one", "two", "three"], queue="hello", wait=4)
    assert verdict(capsys) == expected
