"""The check for lesson 15: Celery settings that lose no job and share jobs out fairly.

``check_reliable_celery`` starts a real ``celery worker`` with the learner's settings on a queue
of the check's own, sends it three jobs, reads from the broker how many of them the worker left
in the queue while it did the first, kills its pool process in the middle of that first job,
and counts what became of each (``helpers.lab.celery_workers.crash_drill``). It judges what the
broker and the worker did, not the names in the dict: any settings that behave right pass.
Prints one ✅/❌ line (see ``helpers.checks.report``).
"""

import json
import uuid

from celery.app.defaults import _TO_NEW_KEY, SETTING_KEYS

from ..amqp import connect
from ..lab.celery_workers import crash_drill
from .report import check, report

__all__ = ["check_reliable_celery"]

JOBS = 3


def _problem_with_names(settings):
    """What is wrong with the dict itself before any worker starts, or None."""
    if not isinstance(settings, dict):
        return ("`reliable` should be a dict of Celery settings, e.g. {\"task_acks_late\": True, ...}, "
                f"not a {type(settings).__name__}.")
    for name in settings:
        if not isinstance(name, str):
            return f"{name!r} is no setting name: Celery's settings are strings such as \"task_acks_late\"."
        if name in _TO_NEW_KEY:
            return (f"{name!r} is Celery's old, upper-case name; since Celery 4 it is {_TO_NEW_KEY[name]!r}, "
                    "and Celery refuses a mix of both styles.")
        if name not in SETTING_KEYS:
            return (f"Celery has no setting {name!r}: check its spelling (the lesson's table names the "
                    "three that matter here).")
    try:
        json.dumps(settings)
    except (TypeError, ValueError):
        return "The values should be plain ones (True, False, numbers): the worker gets them as JSON."
    return None


@check
def check_reliable_celery(reliable):
    """Lesson 15, exercise: with the settings ``reliable``, does a Celery worker (one pool process)
    leave the jobs it is not doing in the queue, and is every job done although its pool process
    is killed in the middle of the first?"""
    problem = _problem_with_names(reliable)
    if problem:
        return report(False, "", problem)
    queue = f"celery-check-{uuid.uuid4().hex[:8]}"
    try:
        drill = crash_drill(reliable, queue=queue, jobs=JOBS)
    finally:
        with connect(name="check-cleanup") as connection:   # the queue, and the exchange Celery named after it
            cleanup = connection.channel()
            cleanup.queue_delete(queue)
            cleanup.exchange_delete(queue)
    outcomes, left = drill["outcomes"], drill["queued while the first ran"]
    lost = [n + 1 for n, said in enumerate(outcomes) if said != "done"]
    if lost:
        first = outcomes[lost[0] - 1]
        if drill["times started"][0] == 1 and first.startswith("failed"):
            why = ("Celery acknowledged its message although the process died: the job is gone. Acknowledge after the "
                   "work (task_acks_late) and have the message rejected back to the queue when the process dies "
                   "(task_reject_on_worker_lost): both, one alone is not enough.")
        else:
            why = "its message never came back to a worker."
        jobs = f"Job {lost[0]} of {JOBS} was" if len(lost) == 1 else f"Jobs {', '.join(map(str, lost))} of {JOBS} were"
        return report(False, "", f"{jobs} lost when the pool process was killed ({first}): {why}")
    if left < JOBS - 1:
        return report(False, "", f"No job was lost, but while the worker did the first job the broker had only {left} of "
                                 f"the other {JOBS - 1} left in the queue: the worker had taken the rest to keep, "
                                 "out of reach of any idle worker. Have it take one job at a time "
                                 "(worker_prefetch_multiplier).")
    return report(True, f"Every job was done although a pool process was killed mid-job (the first job ran "
                        f"{drill['times started'][0]} times: at least once), and the worker left the other "
                        f"{JOBS - 1} jobs in the queue while it worked.", "")
