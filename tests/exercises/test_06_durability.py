"""Lesson 06 (durability): each exercise's check against wrong answers, on the real broker."""

import pika
import pytest

from helpers import checks
from helpers.amqp import publish
from exercise_support import verdict, fresh


PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


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
