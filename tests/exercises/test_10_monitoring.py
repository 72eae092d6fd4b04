"""Lesson 10 (monitoring): each exercise's check against wrong answers, on the real broker."""

import time

import pytest

from helpers import checks
from helpers.amqp import publish
from helpers.management import management_api
from helpers.ops.prometheus import samples
from exercise_support import verdict, fresh


@pytest.fixture
def two_queues(channel):
    names = ["test-depth-empty", "test-depth-three"]
    fresh(channel, *names)
    for name in names:
        channel.queue_declare(name, durable=True)
    for number in range(3):
        publish(channel, names[1], f"m{number}", persistent=True)
    management_api().wait_for_queue(names[1], messages=3)
    yield names
    fresh(channel, *names)


def depths_right(families, queues):
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages")
            if labels.get("queue") in queues}


def depths_from_the_api(families, queues):
    api = management_api()
    return {name: api.queue(name)["messages"] for name in queues}


def depths_typed_in(families, queues):
    return {"test-depth-empty": 0, "test-depth-three": 3}


def depths_ready_only_and_all_queues(families, queues):
    return {labels.get("queue"): int(value) for labels, value in samples(families, "rabbitmq_queue_messages_ready")}


@pytest.mark.parametrize("function, expected", [
    (lambda families, queues: None, "❌"), (depths_typed_in, "❌"), (depths_from_the_api, "❌"), (None, "❌"),
    (depths_right, "✅"),
])
def test_10_exercise_1_depths_from_prometheus(two_queues, capsys, function, expected):
    time.sleep(0)  # the endpoint reflects the queues after the broker's next statistics tick; the check waits
    checks.check_queue_depths(function, two_queues, wait=8)
    assert verdict(capsys) == expected


def test_10_exercise_2_alert_rule(capsys):
    from helpers.lab.alerts import AlertRule

    cases = [({"name": "a few stragglers", "messages": 5, "consumers": 0}, False),
             ({"name": "busy but served", "messages": 500, "consumers": 2}, False),
             ({"name": "forgotten", "messages": 11, "consumers": 0}, True)]
    message = "{queue}: {value:.0f}"
    wrong = [
        None,
        AlertRule("any backlog", lambda samples, queue: queue.get("messages", 0), threshold=10, message=message),
        AlertRule("too eager", lambda samples, queue: queue.get("messages", 0) if not queue.get("consumers") else 0,
                  threshold=0, message=message),
        "backlog without consumers",
    ]
    for rule in wrong:
        checks.check_alert_rule(rule, cases=cases)
        assert verdict(capsys) == "❌", rule
    right = AlertRule("backlog without consumers",
                      lambda samples, queue: queue.get("messages", 0) if queue.get("consumers", 0) == 0 else 0,
                      threshold=10, message=message)
    checks.check_alert_rule(right, cases=cases)
    assert verdict(capsys) == "✅"
