"""Checks for lesson 10: reading the broker's metrics and alert rules.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

import copy
import secrets

from ..errors import CourseError
from ..management import management_api
from ..waiting import poll
from .report import check, queue_or_none, report


__all__ = ["check_queue_depths", "check_alert_rule"]

DEPTH = "rabbitmq_queue_messages"
NEAR_MISSES = {"rabbitmq_queue_messages_ready": 2000, "rabbitmq_queue_messages_unacked": 3000}
# Queues of the same names in another vhost, put before and after the lesson's own in the changed
# metrics: an answer keyed by queue name only takes one of theirs, whichever sample it keeps.
TWINS = {"before": 7000, "after": 9000}


def _ours(labels, vhost):
    """Is this sample's queue in ``vhost``? (A series without a vhost label is taken as ours.)"""
    return labels.get("vhost", vhost) == vhost


def _with_twins(family, queues, vhost, other):
    """A family's samples with each asked queue's depth shifted by 1000 (its near misses by their
    own shift), and a queue of the same name in vhost ``other`` on each side of it."""
    shift = {DEPTH: 1000, **NEAR_MISSES}
    changed = []
    for sample in family.samples:
        if sample.name not in shift or sample.labels.get("queue") not in queues or not _ours(sample.labels, vhost):
            changed.append(sample)
            continue
        moved = sample._replace(value=sample.value + shift[sample.name])
        if sample.name != DEPTH:
            changed.append(moved)
            continue
        twin = {**sample.labels, "vhost": other}
        changed += [sample._replace(labels=twin, value=sample.value + TWINS["before"]), moved,
                    sample._replace(labels=twin, value=sample.value + TWINS["after"])]
    return changed


def _ask(depths_from, families, queues):
    """(the function's answer, None) or (None, a ❌ sentence): the answer must be {queue: number}
    with exactly the asked queues."""
    try:
        answer = depths_from(families, list(queues))
    except Exception as error:  # the learner's function failed: say where, in one line
        return None, (f"depths_from raised {type(error).__name__}: {error}. It gets the parsed metrics and a list of queue "
                      "names; read them with samples(families, ...).")
    if not isinstance(answer, dict) or not answer:
        return None, "depths_from should return a dict such as {'monitor.tasks': 0, ...}: one entry a queue."
    missing = [name for name in queues if name not in answer]
    if missing:
        return None, (f"The dict has no entry for {', '.join(missing)}: keep the samples whose 'queue' label is one of "
                      "`queues`, whatever their number (an empty queue's is 0).")
    extra = sorted(str(name) for name in answer if name not in queues)
    if extra:
        return None, (f"The dict also has {', '.join(extra[:3])}{'...' if len(extra) > 3 else ''}, not asked for: keep only "
                      "the samples whose 'queue' label is one of `queues`.")
    try:
        return {name: float(answer[name]) for name in queues}, None
    except (TypeError, ValueError):
        return None, f"The depths should be numbers; depths_from gave {answer!r}."


@check
def check_queue_depths(depths_from, queues, wait=8.0):
    """Lesson 10: does ``depths_from(families, queues)`` turn scraped Prometheus metrics into
    ``{queue: messages}`` for exactly the queues asked? The check scrapes ``/metrics/per-object``
    itself and compares the answer with the management API; then it fills a queue of its own
    (messages the learner cannot know, one of them unacknowledged, so that the ready count
    differs), scrapes again and asks for that queue and one of ``queues``; last it asks again on a
    copy of the metrics whose depths it changed: only code that reads ``rabbitmq_queue_messages``
    from the families it is given, for the queues it is given, gets all three right."""
    from ..amqp import connect, publish
    from ..ops.prometheus import samples, scrape

    queues = list(queues)
    if not callable(depths_from):
        return report(False, "", f"`depths_from` should be a function, depths_from(families, queues); it is {depths_from!r}.")
    families = scrape("/metrics/per-object")
    depths, problem = _ask(depths_from, families, queues)
    if problem:
        return report(False, "", problem)
    api = management_api()
    vhost = api.vhost
    wrong = {}
    for name in queues:
        try:
            api.wait_for_queue(name, timeout=wait, messages=int(depths[name]))
        except CourseError:
            wrong[name] = (depths[name], (queue_or_none(name) or {}).get("messages"))
    if wrong:
        elsewhere = {(labels.get("queue"), value) for labels, value in samples(families, DEPTH) if not _ours(labels, vhost)}
        if any((name, have) in elsewhere for name, (have, _) in wrong.items()):
            return report(False, "", _other_vhost(vhost))
        described = "; ".join(f"{name}: yours {have:g}, the API's {api_has}" for name, (have, api_has) in wrong.items())
        return report(False, "", f"Some depths differ from the management API ({described}). Read the samples named "
                                 "rabbitmq_queue_messages (ready and unacknowledged together) from the families you are given.")

    # A queue of the check's own: its name and depth are not in the lesson, and one message is
    # unacknowledged, so that rabbitmq_queue_messages (all) and _ready (waiting) differ.
    own = f"check.depths.{secrets.token_hex(3)}"
    count = 4 + secrets.randbelow(6)
    with connect(name="check-depths") as connection:
        channel = connection.channel()
        channel.queue_declare(own, exclusive=True)  # gone when the check's connection closes
        for number in range(count):
            publish(channel, own, f"check {number}", persistent=False)
        channel.basic_get(own, auto_ack=False)  # held, not acked, until the connection closes

        def showing_it():
            scraped = scrape("/metrics/per-object")
            by_queue = {labels.get("queue"): value for labels, value in samples(scraped, DEPTH) if _ours(labels, vhost)}
            return scraped if by_queue.get(own) == count else None

        scraped = poll(showing_it, timeout=max(wait, 10.0), interval=0.25)
        if not scraped:
            return report(False, "", f"The broker's metrics did not show the check's own queue within {max(wait, 10.0):g} s "
                                     "(a broker under heavy load?): run the check again.")
        asked = [own, queues[0]]
        expected = {labels["queue"]: value for labels, value in samples(scraped, DEPTH)
                    if labels.get("queue") in asked and _ours(labels, vhost)}
        second, problem = _ask(depths_from, scraped, asked)
    if problem:
        return report(False, "", f"Asked for the check's own queue {own} and {queues[0]}: {problem}")
    if second[own] != expected[own]:
        ready = " (its ready messages only: the task counts the unacknowledged one too)" if second[own] == count - 1 else ""
        return report(False, "", f"The check's own queue {own} holds {count} messages, one of them unacknowledged; depths_from "
                                 f"said {second[own]:g}{ready}. Read rabbitmq_queue_messages from the families you are given.")

    changed = copy.deepcopy(families)
    other = f"{vhost.strip('/') or 'another'}-{secrets.token_hex(2)}"   # a vhost that is not the lesson's
    for family in changed.values():
        family.samples = _with_twins(family, queues, vhost, other)
    again, problem = _ask(depths_from, changed, queues)
    theirs = {(labels.get("queue"), value) for labels, value in samples(changed, DEPTH) if not _ours(labels, vhost)}
    if not problem and any(again[name] != depths[name] + 1000 and (name, again[name]) in theirs
                           or again[name] - depths[name] >= min(TWINS.values()) for name in queues):   # or their sum
        return report(False, "", _other_vhost(vhost))
    if problem or any(again[name] != depths[name] + 1000 for name in queues):
        return report(False, "", "Given other metrics, depths_from did not give their depths: read them from the `families` "
                                 "it is given (samples(families, 'rabbitmq_queue_messages')), not from the API, another "
                                 "family or values typed in.")
    report(True, f"depths_from reads the depths from the metrics, for the queues asked: they agree with the management API "
                 f"for {len(queues)} queue(s) and with a queue of the check's own.", "")


def _other_vhost(vhost):
    return (f"depths_from gave a depth of a queue of the same name in another vhost: a broker serves many vhosts, each "
            f"with queues of its own, and the endpoint lists them all. Keep only the samples whose 'queue' label is one of "
            f"`queues` and whose 'vhost' label is this lesson's ({vhost!r}, VHOST in the lesson).")


def _figure(number):
    try:
        return f"{float(number):g}"
    except (TypeError, ValueError):
        return repr(number)


@check
def check_alert_rule(rule, firing_on=(), quiet_on=(), cases=(), more_than=None):
    """Lesson 10: does an AlertRule fire on the live queues ``firing_on`` and stay quiet on
    ``quiet_on``, and give the expected answer for each ``(queue dict, should_fire)`` in ``cases``?
    With ``more_than`` (the task: fire when more than that many messages wait in a queue with no
    consumer), the live queues must be in that state, and the rule is also run on queues of the
    check's own, with names the learner cannot type: at the boundary (``more_than`` - 1,
    ``more_than``, ``more_than`` + 1 messages), empty, and long but consumed by one consumer."""
    import pandas

    from ..lab.alerts import AlertRule
    from ..metrics import SAMPLE_COLUMNS

    if not isinstance(rule, AlertRule):
        return report(False, "", "`rule` should be an AlertRule(name, measure, threshold, message).")
    empty = pandas.DataFrame(columns=SAMPLE_COLUMNS)
    live = []
    for names, should_fire in ((firing_on, True), (quiet_on, False)):
        for name in names:
            queue = queue_or_none(name)
            if queue is None:
                return report(False, "", f"The queue {name} does not exist: run the exercise's first cell (it makes the "
                                         "queues), then your cell and this check.")
            backlog = more_than is None or queue.get("messages", 0) > more_than and not queue.get("consumers", 0)
            if more_than is not None and backlog != should_fire:
                return report(False, "", f"{name} holds {queue.get('messages', 0)} messages with {queue.get('consumers', 0)} "
                                         "consumer(s), not the state the exercise's first cell gives it: run that cell "
                                         "again, then your cell and this check.")
            live.append((queue, should_fire))
    tag = secrets.token_hex(2)

    def made_up(what, messages, consumers):
        return {"name": f"{what} ({tag})", "messages": messages, "messages_ready": messages if not consumers else 0,
                "messages_unacknowledged": 0 if not consumers else messages, "consumers": consumers}

    own = [] if more_than is None else [(made_up("one below the threshold", more_than - 1, 0), False),
           (made_up("exactly at the threshold", more_than, 0), False),
           (made_up("one above the threshold", more_than + 1, 0), True),
           (made_up("far above the threshold", more_than * 100, 0), True),
           (made_up("empty", 0, 0), False),
           (made_up("one above, one consumer", more_than + 1, 1), False),
           (made_up("long, one consumer", more_than * 100, 1), False)]
    every = [*live, *cases, *own]
    for queue, should_fire in every:
        name = queue.get("name", "a queue")
        try:
            firing, value, _ = rule.check(empty, {"name": "example", **queue})
        except Exception as error:  # the learner's rule failed: say so in one line
            return report(False, "", f"The rule's measure failed on {name}: {type(error).__name__}: {error}. The measure "
                                     "takes (samples, queue) and returns a number; the threshold is a number.")
        if firing != should_fire:
            figures = f"messages={queue.get('messages', 0)}, consumers={queue.get('consumers', 0)}"
            verb = "should fire but stays quiet" if should_fire else "fires but should stay quiet"
            why = ""
            if more_than is None:
                pass
            elif queue.get("messages", 0) == more_than and not queue.get("consumers"):
                why = f" 'More than {more_than}' does not include {more_than}: a rule fires when its value is above its threshold."
            elif queue.get("consumers"):
                why = " A queue that has a consumer must not count: make the measure 0 when queue['consumers'] is not 0."
            elif should_fire:
                why = f" {queue.get('messages', 0)} is more than {more_than}, with no consumer: the threshold is {more_than}."
            else:
                why = f" It should fire only above {more_than} messages: the threshold is {more_than}."
            return report(False, "", f"'{rule.name}' {verb} on {name} ({figures}; value {_figure(value)}, threshold "
                                     f"{_figure(rule.threshold)}).{why}")
    boundary = "" if more_than is None else f", the boundary {more_than - 1}, {more_than}, {more_than + 1} among them"
    report(True, f"'{rule.name}' fires where it should and stays quiet elsewhere ({len(every)} cases{boundary}).", "")
