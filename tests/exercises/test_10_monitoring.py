"""Lesson 10 (monitoring): each exercise's check against wrong answers, on the real broker."""

import time
from urllib.parse import quote

import pytest

from helpers import checks
from helpers.amqp import connect, publish
from helpers.config import settings
from helpers.management import management_api
from helpers.ops.prometheus import queue_depths, samples, scrape
from exercise_support import EVERY_RUN, fresh, verdict


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
    vhost = settings().vhost   # VHOST in the lesson
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages")
            if labels.get("queue") in queues and labels.get("vhost") == vhost}


def depths_of_any_vhost(families, queues):  # keyed by queue name only: another vhost's queue of that name mixes in
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages")
            if labels.get("queue") in queues}


def depths_summed_over_vhosts(families, queues):
    found = {name: 0 for name in queues}
    for labels, value in samples(families, "rabbitmq_queue_messages"):
        if labels.get("queue") in queues:
            found[labels["queue"]] += int(value)
    return found


def depths_from_the_api(families, queues):
    api = management_api()
    return {name: api.queue(name)["messages"] for name in queues}


def depths_typed_in(families, queues):
    return {"test-depth-empty": 0, "test-depth-three": 3}


def depths_ready_only_and_all_queues(families, queues):
    return {labels.get("queue"): int(value) for labels, value in samples(families, "rabbitmq_queue_messages_ready")}


def depths_ready_only(families, queues):  # the wrong family: ready messages, without the unacknowledged
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages_ready")
            if labels.get("queue") in queues}


def depths_of_every_queue(families, queues):  # the filter left out: every queue on the broker
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages")}


def depths_skipping_empty_queues(families, queues):
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages")
            if labels.get("queue") in queues and value}


def depths_from_the_lessons_helper(families, queues):  # ignores the families it is given
    every = queue_depths()
    return {name: every.get(name) for name in queues}


def depths_scraped_again(families, queues):  # scrapes the broker itself instead of reading `families`
    return depths_right(scrape("/metrics/per-object"), queues)


def depths_typed_in_for_the_asked_names(families, queues):  # typed values, whatever the names asked
    typed = {"test-depth-empty": 0, "test-depth-three": 3}
    return {name: typed.get(name, 0) for name in queues}


def depths_unacked_added_twice(families, queues):  # messages + unacked: counts the held ones twice
    unacked = {labels["queue"]: value for labels, value in samples(families, "rabbitmq_queue_messages_unacked")}
    return {name: value + unacked.get(name, 0) for name, value in depths_right(families, queues).items()}


def depths_as_text(families, queues):
    return {name: str(int(value)) + " messages" for name, value in depths_right(families, queues).items()}


@pytest.mark.parametrize("function, expected", [
    (lambda families, queues: None, "❌"), (depths_typed_in, "❌"), (depths_from_the_api, "❌"), (None, "❌"),
    (depths_ready_only_and_all_queues, "❌"), (depths_ready_only, "❌"), (depths_of_every_queue, "❌"),
    (depths_skipping_empty_queues, "❌"), (depths_from_the_lessons_helper, "❌"), (depths_scraped_again, "❌"),
    (depths_typed_in_for_the_asked_names, "❌"), (depths_unacked_added_twice, "❌"), (depths_as_text, "❌"),
    (lambda families, queues: {name: families[name] for name in queues}, "❌"),
    (depths_of_any_vhost, "❌"), (depths_summed_over_vhosts, "❌"),
    (depths_right, "✅"),
], ids=["left empty", "typed in", "from the management API", "not a function", "ready family and every queue",
        "wrong family: ready only", "filter left out: every queue", "empty queues skipped", "the lesson's helper",
        "scrapes again itself", "typed in for the asked names", "unacked counted twice", "text values",
        "raises KeyError", "any vhost: keyed by queue name only", "summed over vhosts", "solution"])
def test_10_exercise_1_depths_from_prometheus(two_queues, capsys, function, expected):
    time.sleep(0)  # the endpoint reflects the queues after the broker's next statistics tick; the check waits
    checks.check_queue_depths(function, two_queues, wait=8)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_10_exercise_1_same_verdicts_every_run(two_queues, capsys, attempt):
    """The check's own queue is filled and read back through the endpoint: the verdicts do not
    depend on when the broker's statistics tick."""
    for function, expected in [(depths_from_the_api, "❌"), (depths_ready_only, "❌"), (depths_right, "✅")]:
        checks.check_queue_depths(function, two_queues, wait=8)
        assert verdict(capsys) == expected, function.__name__


@pytest.fixture(params=["same depths", "other depths"])
def twin_vhost(request, two_queues):
    """Another vhost on the broker with queues of the same names as ``two_queues``: as many messages
    in each (the depths agree, only the vhost label tells them apart), or others."""
    current, api = settings(), management_api()
    vhost = f"twin-{request.node.name.split('[')[0][-20:]}"
    path = quote(vhost, safe="")
    api.put(f"vhosts/{path}", {"description": "test_10_monitoring: queues of the same names as the lesson's"})
    api.put(f"permissions/{path}/{quote(current.user, safe='')}", {"configure": ".*", "write": ".*", "read": ".*"})
    counts = {"same depths": [0, 3], "other depths": [5, 1]}[request.param]
    with connect(url=current.amqp_url.rstrip("/") + "/" + path) as connection:
        channel = connection.channel()
        for name, count in zip(two_queues, counts):
            channel.queue_declare(name, durable=True)
            for number in range(count):
                publish(channel, name, f"twin {number}", persistent=True)
    twin = management_api()
    twin.vhost = vhost
    for name, count in zip(two_queues, counts):
        twin.wait_for_queue(name, messages=count)
    yield two_queues
    api.delete(f"vhosts/{path}")


@pytest.mark.parametrize("function, expected", [
    (depths_of_any_vhost, "❌"), (depths_summed_over_vhosts, "❌"), (depths_of_every_queue, "❌"), (depths_right, "✅"),
], ids=["keyed by queue name only", "summed over vhosts", "every queue", "solution"])
def test_10_exercise_1_another_vhost_with_the_same_queue_names(twin_vhost, capsys, function, expected):
    """On a shared broker (a workshop's), other vhosts have queues of the lesson's names, and the
    endpoint lists them all: only the samples of the lesson's vhost are the answer."""
    checks.check_queue_depths(function, twin_vhost, wait=8)
    said = capsys.readouterr().out
    assert said.startswith(expected), said
    if function is depths_of_any_vhost:
        assert "another vhost" in said, said


MESSAGE = "{queue}: {value:.0f}"


def rule_of(name, measure, threshold):
    from helpers.lab.alerts import AlertRule

    return AlertRule(name, measure, threshold=threshold, message=MESSAGE)


def without_consumers(queue):
    return queue.get("messages", 0) if queue.get("consumers", 0) == 0 else 0


def wrong_rules():
    from helpers.lab.alerts import no_consumers, queue_too_long

    return {
        "left empty": None,
        "typed name": "backlog without consumers",
        "any backlog (no consumer condition)": rule_of("any backlog", lambda s, q: q.get("messages", 0), 10),
        "too eager (threshold 0)": rule_of("too eager", lambda s, q: without_consumers(q), 0),
        "ten or more (fires at exactly 10)": rule_of("ten or more", lambda s, q: without_consumers(q), 9),
        "threshold 5 (fires at 6..10)": rule_of("above five", lambda s, q: without_consumers(q), 5),
        "eleven or more (quiet at 11)": rule_of("eleven", lambda s, q: without_consumers(q), 11),
        "fires on everything": rule_of("always", lambda s, q: 1, 0),
        "never fires": rule_of("never", lambda s, q: 0, 10),
        "consumers misread (fewer than 2)": rule_of("few consumers",
                                                    lambda s, q: q.get("messages", 0) if q.get("consumers", 0) < 2 else 0, 10),
        "consumers key misspelt": rule_of("typo", lambda s, q: q.get("messages", 0) if not q.get("consumer") else 0, 10),
        "typed list of names": rule_of("by name", lambda s, q: 100 if q.get("name") in
                                       {"monitor.backlog", "monitor.stuck", "forgotten", "test-alert-backlog"} else 0, 10),
        "the course's no consumers rule": no_consumers(),
        "the course's queue too long at 10": queue_too_long(10),
        "threshold as text": rule_of("text", lambda s, q: without_consumers(q), "10"),
    }


@pytest.fixture
def alert_queues(channel):
    """A live queue with a backlog and no consumer, as the exercise's given cell leaves monitor.backlog."""
    names = ["test-alert-backlog", "test-alert-served"]
    fresh(channel, *names)
    for name in names:
        channel.queue_declare(name, durable=True)
    for number in range(12):
        publish(channel, names[0], f"m{number}", persistent=True)
    api = management_api()
    api.wait_for_queue(names[0], messages=12, consumers=0)
    api.wait_for_queue(names[1], messages=0, consumers=0)
    yield names
    fresh(channel, *names)


CASES = [({"name": "a few stragglers", "messages": 5, "consumers": 0}, False),
         ({"name": "busy but served", "messages": 500, "consumers": 2}, False),
         ({"name": "forgotten", "messages": 11, "consumers": 0}, True)]


def test_10_exercise_2_alert_rule(capsys):
    from helpers.lab.alerts import AlertRule

    cases = CASES
    message = "{queue}: {value:.0f}"
    wrong = [
        None,
        AlertRule("any backlog", lambda samples, queue: queue.get("messages", 0), threshold=10, message=message),
        AlertRule("too eager", lambda samples, queue: queue.get("messages", 0) if not queue.get("consumers") else 0,
                  threshold=0, message=message),
        "backlog without consumers",
    ]
    for rule in wrong:
        checks.check_alert_rule(rule, cases=cases, more_than=10)
        assert verdict(capsys) == "❌", rule
    right = AlertRule("backlog without consumers",
                      lambda samples, queue: queue.get("messages", 0) if queue.get("consumers", 0) == 0 else 0,
                      threshold=10, message=message)
    checks.check_alert_rule(right, cases=cases, more_than=10)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("wrong", list(wrong_rules()))
def test_10_exercise_2_wrong_rules_on_live_queues(alert_queues, capsys, wrong):
    rule = wrong_rules()[wrong]
    checks.check_alert_rule(rule, firing_on=[alert_queues[0]], quiet_on=[alert_queues[1]], cases=CASES, more_than=10)
    assert verdict(capsys) == "❌", wrong


def test_10_exercise_2_right_rule_on_live_queues_and_a_second_try(alert_queues, capsys):
    right = rule_of("backlog without consumers", lambda samples, queue: without_consumers(queue), 10)
    for rule, expected in [(wrong_rules()["ten or more (fires at exactly 10)"], "❌"), (right, "✅")]:
        checks.check_alert_rule(rule, firing_on=[alert_queues[0]], quiet_on=[alert_queues[1]], cases=CASES, more_than=10)
        assert verdict(capsys) == expected


def test_10_exercise_2_live_queues_not_as_the_given_cell_leaves_them(alert_queues, capsys):
    right = rule_of("backlog without consumers", lambda samples, queue: without_consumers(queue), 10)
    checks.check_alert_rule(right, firing_on=["test-alert-missing"], cases=CASES, more_than=10)
    assert "does not exist" in capsys.readouterr().out
    checks.check_alert_rule(right, firing_on=[alert_queues[1]], cases=CASES, more_than=10)
    assert "run that cell again" in capsys.readouterr().out
