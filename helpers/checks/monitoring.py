"""Checks for lesson 10: reading the broker's metrics and alert rules.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["check_queue_depths", "check_alert_rule"]


@check
def check_queue_depths(depths_from, queues, wait=5.0):
    """Lesson 10: does ``depths_from(families, queues)`` turn scraped Prometheus metrics into
    ``{queue: messages}``? The check scrapes ``/metrics/per-object`` itself, compares the answer
    with the management API, then asks again on a copy whose depths it changed: only code that
    reads the metrics gets both right."""
    import copy

    from ..ops.prometheus import scrape

    if not callable(depths_from):
        return report(False, "", f"`depths_from` should be a function, depths_from(families, queues); it is {depths_from!r}.")
    families = scrape("/metrics/per-object")
    depths = depths_from(families, list(queues))
    if not isinstance(depths, dict) or not depths:
        return report(False, "", "depths_from should return a dict such as {'monitor.tasks': 0, ...}: one entry a queue.")
    missing = [name for name in queues if name not in depths]
    if missing:
        return report(False, "", f"The dict has no entry for {', '.join(missing)}: keep the samples whose 'queue' label is one of `queues`.")
    api = management_api()
    wrong = {}
    for name in queues:
        try:
            api.wait_for_queue(name, timeout=wait, messages=int(depths[name]))
        except CourseError:
            wrong[name] = (depths[name], (queue_or_none(name) or {}).get("messages"))
    if wrong:
        described = "; ".join(f"{name}: yours {have}, the API's {api_has}" for name, (have, api_has) in wrong.items())
        return report(False, "", f"Some depths differ from the management API ({described}). Read the samples named "
                                 "rabbitmq_queue_messages (not _ready) from the families you are given.")
    changed = copy.deepcopy(families)
    for family in changed.values():
        family.samples = [sample._replace(value=sample.value + 1000)
                          if sample.name == "rabbitmq_queue_messages" and sample.labels.get("queue") in queues else sample
                          for sample in family.samples]
    again = depths_from(changed, list(queues))
    if not isinstance(again, dict) or any(int(again.get(name, -1)) != int(depths[name]) + 1000 for name in queues):
        return report(False, "", "Given other metrics, depths_from gave the same depths: read them from the `families` it is "
                                 "given (samples(families, 'rabbitmq_queue_messages')), not from the API or typed in.")
    report(True, f"depths_from reads the depths from the metrics: they agree with the management API for {len(queues)} queue(s).", "")


@check
def check_alert_rule(rule, firing_on=(), quiet_on=(), cases=()):
    """Does an AlertRule fire on ``firing_on`` queues and stay quiet on ``quiet_on`` (live), and give
    the expected answer for each ``(queue dict, should_fire)`` in ``cases``? (lesson 10)"""
    import pandas

    from ..lab.alerts import AlertRule
    from ..metrics import SAMPLE_COLUMNS

    if not isinstance(rule, AlertRule):
        return report(False, "", "`rule` should be an AlertRule(name, measure, threshold, message).")
    empty = pandas.DataFrame(columns=SAMPLE_COLUMNS)
    live = [(queue_or_none(name) or {"name": name}, True) for name in firing_on] + \
           [(queue_or_none(name) or {"name": name}, False) for name in quiet_on]
    for queue, should_fire in [*live, *cases]:
        try:
            firing, value, _ = rule.check(empty, {"name": "example", **queue})
        except Exception as error:  # the learner's measure function failed: say so in one line
            return report(False, "", f"The rule's measure failed on {queue.get('name', 'a queue')}: {type(error).__name__}: {error}")
        if firing != should_fire:
            figures = f"messages={queue.get('messages', 0)}, consumers={queue.get('consumers', 0)}"
            verb = "should fire but stays quiet" if should_fire else "fires but should stay quiet"
            return report(False, "", f"'{rule.name}' {verb} on {queue.get('name', 'a queue')} ({figures}; value {value:g}, threshold {rule.threshold:g}).")
    report(True, f"'{rule.name}' fires where it should and stays quiet elsewhere ({len(live) + len(cases)} cases).", "")
