"""Lesson 07 (exchanges): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.lab.routing import declare_routing
from exercise_support import verdict, fresh


# The exercise's given data: the sample keys, and near-misses that tell the asked patterns from
# theirs (a word fewer or more, another first word, another region or event).
ORDER_ROUTES = {
    "order.eu.created": ["new-orders", "eu-orders", "order-audit"],
    "order.us.created": ["new-orders", "order-audit"],
    "order.asia.created": ["new-orders", "order-audit"],
    "order.eu.cancelled": ["eu-orders", "order-audit"],
    "order.us.shipped": ["order-audit"],
    "payment.eu.received": [],
    "payment.eu.created": [],
    "order.created": ["order-audit"],
    "order.eu": ["order-audit"],
    "order.eu.created.retry": ["order-audit"],
    "order": ["order-audit"],
}
ORDER_EVENTS = list(ORDER_ROUTES)
ORDER_QUEUES = ["new-orders", "eu-orders", "order-audit"]


@pytest.fixture
def orders(channel):
    fresh(channel, *ORDER_QUEUES, exchanges=["orders"])  # the exercise's given cell
    yield channel
    fresh(channel, *ORDER_QUEUES, exchanges=["orders"])


def check_orders():
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES, exchange_type="topic")


RIGHT_BINDINGS = [("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.#")]


def but(queue, *keys):
    """The right bindings, except ``queue``'s, bound with ``keys`` instead."""
    return [binding for binding in RIGHT_BINDINGS if binding[0] != queue] + [(queue, key) for key in keys]


TOPIC_WRONG = {
    "left_empty": None,
    "no_region_word": but("new-orders", "order.created"),
    "audit_bound_with_hash_takes_payments": but("order-audit", "#"),
    "audit_with_star_misses_other_lengths": but("order-audit", "order.*"),
    # patterns that match the sample keys by luck: near-misses the check's keys must separate
    "created_pattern_with_any_first_word": but("new-orders", "*.*.created"),
    "created_pattern_with_any_last_word": but("new-orders", "order.*.*"),
    "created_pattern_with_hash_in_the_middle": but("new-orders", "order.#.created"),
    "created_pattern_with_hash_first": but("new-orders", "#.created"),
    "created_regions_listed_one_by_one": but("new-orders", "order.eu.created", "order.us.created"),
    "eu_pattern_with_hash_takes_more_words": but("eu-orders", "order.eu.#"),
    "eu_pattern_with_any_first_word": but("eu-orders", "*.eu.*"),
    "audit_pattern_needing_one_word_more": but("order-audit", "order.*.#"),
    "audit_pattern_of_three_words_only": but("order-audit", "order.*.*"),
}


@pytest.mark.parametrize("bindings", list(TOPIC_WRONG.values()), ids=list(TOPIC_WRONG))
def test_07_exercise_1_topic_routing_wrong_patterns(orders, capsys, bindings):
    if bindings is not None:
        declare_routing(orders, "orders", "topic", bindings)
    check_orders()
    assert verdict(capsys) == "❌"


def test_07_exercise_1_topic_routing_right(orders, capsys):
    declare_routing(orders, "orders", "topic", RIGHT_BINDINGS)
    check_orders()
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("kind", ["direct", "fanout"])
def test_07_exercise_1_topic_bindings_on_another_exchange_type(orders, capsys, kind):
    declare_routing(orders, "orders", kind, RIGHT_BINDINGS)
    check_orders()
    out = capsys.readouterr().out
    assert out.startswith("❌") and "topic" in out and kind in out


def test_07_exercise_1_topic_exchange_not_durable(orders, capsys):
    orders.exchange_declare("orders", "topic", durable=False)
    for queue, key in RIGHT_BINDINGS:
        orders.queue_declare(queue, durable=True)
        orders.queue_bind(queue, "orders", routing_key=key)
    check_orders()
    out = capsys.readouterr().out
    assert out.startswith("❌") and "durable" in out


def test_07_exercise_1_queue_not_durable(orders, capsys):
    orders.queue_declare("eu-orders", durable=False)
    declare_routing(orders, "orders", "topic", but("eu-orders"))
    orders.queue_bind("eu-orders", "orders", routing_key="order.eu.*")
    check_orders()
    out = capsys.readouterr().out
    assert out.startswith("❌") and "durable" in out and "eu-orders" in out


@pytest.mark.parametrize("flags", [{"exclusive": True}, {"auto_delete": True}], ids=["exclusive", "auto_delete"])
def test_07_exercise_1_a_durable_queue_that_still_vanishes(orders, capsys, flags):
    orders.queue_declare("eu-orders", durable=True, **flags)
    declare_routing(orders, "orders", "topic", but("eu-orders"))
    orders.queue_bind("eu-orders", "orders", routing_key="order.eu.*")
    check_orders()
    out = capsys.readouterr().out
    # the broker keeps no exclusive queue across a restart, and may list it as not durable
    assert out.startswith("❌") and "eu-orders" in out and (list(flags)[0].replace("_", "-") in out or "not durable" in out)
    fresh(orders, "eu-orders")  # an exclusive queue is this connection's


def test_07_exercise_1_a_wrong_binding_left_under_the_right_one(orders, capsys):
    """A second try without the given cell: the old binding is still there, and named."""
    declare_routing(orders, "orders", "topic", but("order-audit", "#"))
    check_orders()
    assert verdict(capsys) == "❌"
    declare_routing(orders, "orders", "topic", RIGHT_BINDINGS)  # the right binding added, the old one kept
    check_orders()
    out = capsys.readouterr().out
    assert out.startswith("❌") and "'#'" in out and "start over" in out


def test_07_exercise_1_a_second_try_after_a_wrong_binding(orders, capsys):
    declare_routing(orders, "orders", "topic", [("order-audit", "#"), ("new-orders", "order.*.created"), ("eu-orders", "order.eu.*")])
    check_orders()
    assert verdict(capsys) == "❌"
    fresh(orders, *ORDER_QUEUES, exchanges=["orders"])  # the given cell again: the old binding goes
    declare_routing(orders, "orders", "topic", RIGHT_BINDINGS)
    check_orders()
    assert verdict(capsys) == "✅"


JOB_ROUTES = {
    "task=resize-image, priority=high": ["images-urgent", "ops"],
    "task=resize-image, priority=low": [],
    "task=send-email, priority=high": ["ops"],
    "task=generate-report, priority=low": ["ops"],
    "task=send-email, priority=low": [],
    "task=resize-image": [],
    "priority=high": ["ops"],
    "task=resize-image, priority=high, size=large": ["images-urgent", "ops"],
}
JOBS = [dict(pair.split("=") for pair in label.split(", ")) for label in JOB_ROUTES]

IMAGES = ("images-urgent", {"x-match": "all", "task": "resize-image", "priority": "high"})
OPS = ("ops", {"x-match": "any", "priority": "high", "task": "generate-report"})

HEADERS_WRONG = {
    "left_empty": None,
    "both_any": [(IMAGES[0], {**IMAGES[1], "x-match": "any"}), OPS],
    "both_all": [IMAGES, (OPS[0], {**OPS[1], "x-match": "all"})],
    "swapped_all_and_any": [(IMAGES[0], {**IMAGES[1], "x-match": "any"}), (OPS[0], {**OPS[1], "x-match": "all"})],
    "no_x_match_means_all": [IMAGES, (OPS[0], {"priority": "high", "task": "generate-report"})],
    "images_missing_the_priority_header": [(IMAGES[0], {"x-match": "all", "task": "resize-image"}), OPS],
    "images_with_an_extra_header": [(IMAGES[0], {**IMAGES[1], "size": "large"}), OPS],
    "ops_missing_the_task_header": [IMAGES, (OPS[0], {"x-match": "any", "priority": "high"})],
    "ops_with_the_wrong_task": [IMAGES, (OPS[0], {**OPS[1], "task": "send-email"})],
    "ops_bound_for_every_task": [IMAGES, OPS, (OPS[0], {"x-match": "any", "task": "send-email"})],
}


@pytest.mark.parametrize("bindings", list(HEADERS_WRONG.values()), ids=list(HEADERS_WRONG))
def test_07_exercise_2_headers_routing_wrong(channel, capsys, bindings):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    if bindings is not None:
        declare_routing(channel, "job-router", "headers", bindings)
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    assert verdict(capsys) == "❌"
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])


@pytest.mark.parametrize("bindings", [
    [IMAGES, OPS],
    [IMAGES, ("ops", {"priority": "high"}), ("ops", {"task": "generate-report"})],  # two 'all' bindings: the same routing
], ids=["all_and_any", "ops_bound_twice"])
def test_07_exercise_2_headers_routing_right(channel, capsys, bindings):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    declare_routing(channel, "job-router", "headers", bindings)
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    assert verdict(capsys) == "✅"
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])


@pytest.mark.parametrize("kind", ["topic", "fanout"])
def test_07_exercise_2_headers_bindings_on_another_exchange_type(channel, capsys, kind):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    declare_routing(channel, "job-router", kind, [IMAGES, OPS])
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    out = capsys.readouterr().out
    assert out.startswith("❌") and "headers" in out
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])


def test_07_exercise_2_headers_exchange_not_durable(channel, capsys):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    channel.exchange_declare("job-router", "headers", durable=False)
    for queue, headers in (IMAGES, OPS):
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, "job-router", arguments=headers)
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    out = capsys.readouterr().out
    assert out.startswith("❌") and "durable" in out
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])


def test_07_exercise_2_queue_not_durable(channel, capsys):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    channel.queue_declare("ops", durable=False)
    declare_routing(channel, "job-router", "headers", [IMAGES])
    channel.queue_bind("ops", "job-router", arguments=OPS[1])
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    out = capsys.readouterr().out
    assert out.startswith("❌") and "durable" in out and "ops" in out
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])


def test_07_exercise_2_a_wrong_binding_left_under_the_right_one_then_a_second_try(channel, capsys):
    """Without the given cell, the binding of the first try stays beside the right one; after it, the right one passes."""
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    declare_routing(channel, "job-router", "headers", HEADERS_WRONG["both_any"])
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    assert verdict(capsys) == "❌"
    declare_routing(channel, "job-router", "headers", [IMAGES, OPS])  # the right bindings added, the old ones kept
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    out = capsys.readouterr().out
    assert out.startswith("❌") and "start over" in out
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])  # the given cell
    declare_routing(channel, "job-router", "headers", [IMAGES, OPS])
    checks.check_routing("job-router", JOBS, JOB_ROUTES, exchange_type="headers")
    assert verdict(capsys) == "✅"
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
