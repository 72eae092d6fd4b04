"""Lesson 01 (why a broker): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import publish
from exercise_support import verdict, fresh


@pytest.fixture
def shop(channel):
    fresh(channel, "audit.log", "email.jobs", exchanges=["shop.events"])
    channel.exchange_declare(exchange="shop.events", exchange_type="direct", durable=True)
    channel.queue_declare(queue="email.jobs", durable=True)
    channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.created")
    yield channel
    fresh(channel, "audit.log", "email.jobs", exchanges=["shop.events"])


def audit_right(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="order.created", body={"order": 6}, exchange="shop.events", persistent=True)


def audit_not_durable(channel):
    channel.queue_declare(queue="audit.log", durable=False)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="order.created", body={"order": 6}, exchange="shop.events", persistent=True)


def audit_straight_to_the_queue(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="audit.log", body={"order": 6}, persistent=True)


def audit_not_bound(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    publish(channel, routing_key="audit.log", body={"order": 6}, persistent=True)


@pytest.mark.parametrize("answer, expected", [
    (lambda channel: None, "❌"), (audit_not_durable, "❌"), (audit_straight_to_the_queue, "❌"),
    (audit_not_bound, "❌"), (audit_right, "✅"),
])
def test_01_exercise_1_audit_trail(shop, capsys, answer, expected):
    answer(shop)
    checks.check_audit_trail("shop.events", "audit.log", "order.created")
    assert verdict(capsys) == expected


def test_01_exercise_1_a_second_try_after_a_wrong_one(shop, capsys):
    audit_straight_to_the_queue(shop)
    checks.check_audit_trail("shop.events", "audit.log", "order.created")
    assert verdict(capsys) == "❌"
    shop.queue_delete("audit.log")  # the exercise's given cell
    audit_right(shop)
    checks.check_audit_trail("shop.events", "audit.log", "order.created")
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("answer, expected", [
    (lambda channel: None, "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.canceled"), "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="amq.direct", routing_key="order.cancelled"), "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.cancelled"), "✅"),
])
def test_01_exercise_2_binding(shop, capsys, answer, expected):
    answer(shop)
    checks.check_binding("shop.events", "email.jobs", "order.cancelled")
    assert verdict(capsys) == expected
