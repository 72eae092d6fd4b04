"""Lesson 07 (exchanges): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.lab.routing import declare_routing
from exercise_support import verdict, fresh


ORDER_EVENTS = ["order.eu.created", "order.us.created", "order.eu.cancelled", "order.us.shipped", "payment.eu.received"]
ORDER_ROUTES = {
    "order.eu.created": ["new-orders", "eu-orders", "order-audit"],
    "order.us.created": ["new-orders", "order-audit"],
    "order.eu.cancelled": ["eu-orders", "order-audit"],
    "order.us.shipped": ["order-audit"],
    "payment.eu.received": [],
}
ORDER_QUEUES = ["new-orders", "eu-orders", "order-audit"]


@pytest.fixture
def orders(channel):
    fresh(channel, *ORDER_QUEUES, exchanges=["orders"])  # the exercise's given cell
    yield channel
    fresh(channel, *ORDER_QUEUES, exchanges=["orders"])


RIGHT_BINDINGS = [("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.#")]


@pytest.mark.parametrize("bindings, expected", [
    (None, "❌"),
    ([("new-orders", "order.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.#")], "❌"),
    ([("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "#")], "❌"),
    ([("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.*")], "❌"),
    (RIGHT_BINDINGS, "✅"),
])
def test_07_exercise_1_topic_routing(orders, capsys, bindings, expected):
    if bindings is not None:
        declare_routing(orders, "orders", "topic", bindings)
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES)
    assert verdict(capsys) == expected


def test_07_exercise_1_a_second_try_after_a_wrong_binding(orders, capsys):
    declare_routing(orders, "orders", "topic", [("order-audit", "#"), ("new-orders", "order.*.created"), ("eu-orders", "order.eu.*")])
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES)
    assert verdict(capsys) == "❌"
    fresh(orders, *ORDER_QUEUES, exchanges=["orders"])  # the given cell again: the old binding goes
    declare_routing(orders, "orders", "topic", RIGHT_BINDINGS)
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES)
    assert verdict(capsys) == "✅"


JOBS = [{"task": "resize-image", "priority": "high"}, {"task": "resize-image", "priority": "low"},
        {"task": "send-email", "priority": "high"}, {"task": "generate-report", "priority": "low"}]
JOB_ROUTES = {
    "task=resize-image, priority=high": ["images-urgent", "ops"],
    "task=resize-image, priority=low": [],
    "task=send-email, priority=high": ["ops"],
    "task=generate-report, priority=low": ["ops"],
}


@pytest.mark.parametrize("images_match, ops_match, expected", [
    (None, None, "❌"), ("any", "any", "❌"), ("all", "all", "❌"), ("all", "any", "✅"),
])
def test_07_exercise_2_headers_routing(channel, capsys, images_match, ops_match, expected):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    if images_match:
        declare_routing(channel, "job-router", "headers", [
            ("images-urgent", {"x-match": images_match, "task": "resize-image", "priority": "high"}),
            ("ops", {"x-match": ops_match, "priority": "high", "task": "generate-report"})])
    checks.check_routing("job-router", JOBS, JOB_ROUTES)
    assert verdict(capsys) == expected
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
