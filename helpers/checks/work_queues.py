"""Checks for lessons 03-04: jobs shared by workers, fair dispatch with prefetch.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["LONG_JOB_SECONDS", "ready_count", "check_jobs_waiting", "check_every_job_done_once", "check_prefetch_choice", "check_fair_shares"]


def ready_count(queue, expected, wait=2.0):
    """The ready messages of ``queue`` from the broker itself (a passive declare, no statistics lag),
    read again for up to ``wait`` seconds while fewer than ``expected`` (a publish may be on its way)."""
    import time

    from ..amqp import connect

    stop_at = time.monotonic() + wait
    with connect(name="check") as connection:
        channel = connection.channel()
        while True:
            count = channel.queue_declare(queue, passive=True).method.message_count
            if count >= expected or time.monotonic() > stop_at:
                return count
            time.sleep(0.05)


@check
def check_jobs_waiting(queue, jobs, wait=5.0):
    """Lesson 03: does durable ``queue`` hold exactly ``jobs``, as persistent messages, with no consumer?"""
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it durable (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: delete it and declare it again with durable=True.")
    if found.get("consumers", 0):
        return report(False, "", f"Queue '{queue}' has {found.get('consumers')} consumer(s) taking the jobs: stop the workers first.")
    have = ready_count(queue, len(jobs), wait=min(wait, 2.0))
    if have != len(jobs):
        hint = "publish them (publish_jobs)" if have < len(jobs) else "it holds more: were they published twice? Purge it (channel.queue_purge) and publish once"
        return report(False, "", f"Queue '{queue}' holds {have} message(s), not the {len(jobs)} jobs: {hint}.")
    api = management_api()
    try:
        found = api.wait_for_queue(queue, timeout=wait, messages=len(jobs))
    except CourseError:
        found = {}  # the statistics are late: the count above came from the broker itself
    if "messages_persistent" in found:  # not on every broker version; where it is, it may lag a second behind
        try:
            api.wait_for_queue(queue, timeout=wait, messages=len(jobs), messages_persistent=len(jobs))
        except CourseError:
            persistent = (queue_or_none(queue) or {}).get("messages_persistent", 0)
            return report(False, "", f"Only {persistent} of the {len(jobs)} messages are persistent: publish with "
                                     "delivery_mode=Persistent (publish(..., persistent=True)) so they survive a restart.")
    report(True, f"Queue '{queue}' holds the {len(jobs)} jobs as persistent messages, waiting for a worker.", "")


@check
def check_every_job_done_once(jobs, report_frame, workers=None):
    """Lesson 03: was every job of ``jobs`` done exactly once (a ``WorkerPool.report()``)? With
    ``workers``, did that many workers each do some?"""
    from ..workers import account_for

    if report_frame is None or report_frame.empty:
        return report(False, "", "The report is empty: start the workers (WorkerPool) and wait for the jobs (wait_for_jobs).")
    accounted = account_for(jobs, report_frame)
    missing = list(accounted.job_id[accounted.done == 0])
    twice = list(accounted.job_id[accounted.done > 1])
    if missing:
        return report(False, "", f"{len(missing)} job(s) were never done: {', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}. "
                                 "Wait for all of them (pool.wait_for_jobs(len(jobs), timeout=...)) before you look.")
    if twice:
        return report(False, "", f"Done more than once: {', '.join(twice[:5])}. Were the jobs published twice?")
    done = report_frame[report_frame.event == "done"]
    if workers is not None and done.worker.nunique() != workers:
        return report(False, "", f"{done.worker.nunique()} worker(s) did jobs, not {workers}: start a pool of {workers} (WorkerPool(..., count={workers})).")
    by = f", shared by {workers} workers" if workers is not None and workers > 1 else ""
    report(True, f"All {len(jobs)} jobs were done exactly once{by}.", "")


# A round trip to the broker and back: well under a millisecond on one machine, about one across
# a network. Jobs much longer than that gain nothing from a larger prefetch.
LONG_JOB_SECONDS = 0.01


@check
def check_prefetch_choice(jobs, prefetch):
    """Lesson 04: is ``prefetch`` a good prefetch_count for workers doing ``jobs``? Says why (not)."""
    durations = [float(job["duration"]) for job in jobs]
    mean, longest = sum(durations) / len(durations), max(durations)
    if not isinstance(prefetch, int) or prefetch < 0:
        return report(False, "", f"prefetch_count is a whole number, 0 or more; {prefetch!r} is not.")
    if prefetch == 0:
        return report(False, "", "0 means no limit: the broker pushes every job out at once, round-robin, whoever is busy, and "
                                 "each worker holds its share in memory. Set a limit.")
    if mean >= LONG_JOB_SECONDS:
        if prefetch == 1:
            return report(True, f"Prefetch 1: these jobs take {mean:.2g} s on average (up to {longest:g} s), far longer than a "
                                "round trip to the broker, so a worker loses nothing by asking for one at a time, and no job "
                                "waits behind a long one while another worker is free.", "")
        return report(False, "", f"With prefetch {prefetch}, a worker busy with a {longest:g} s job holds {prefetch - 1} more that "
                                 "a free worker could be doing. These jobs are long next to a round trip to the broker (about a "
                                 "millisecond): take them one at a time.")
    if prefetch == 1:
        return report(False, "", f"These jobs take {mean * 1000:.2g} ms, about as long as a round trip to the broker: with "
                                 "prefetch 1 a worker waits for that round trip after every job. Let it hold more.")
    if prefetch < 10:
        return report(False, "", f"Prefetch {prefetch} helps, but with jobs of {mean * 1000:.2g} ms a worker still waits for the "
                                 "broker often. Tens to a few hundred keep it busy.")
    if prefetch > 1000:
        return report(False, "", f"Prefetch {prefetch} keeps thousands of jobs in one worker's memory, where no other worker can "
                                 "take them, for little more speed than a few hundred.")
    report(True, f"Prefetch {prefetch}: jobs of {mean * 1000:.2g} ms are as short as a round trip to the broker, so "
                 f"a worker keeps up to {prefetch} in hand and never waits for the next one.", "")


@check
def check_fair_shares(jobs, report_frame, slack=0.3):
    """Lesson 04: was every job done once, and did no worker end up with much more busy time than
    another (a difference of at most the longest job, plus ``slack`` seconds)?"""
    from ..workers import account_for, busy_time

    if report_frame is None or report_frame.empty:
        return report(False, "", "The report is empty: start the workers (WorkerPool) and wait for the jobs (wait_for_jobs).")
    accounted = account_for(jobs, report_frame)
    if not (accounted.done == 1).all():
        return report(False, "", f"Not every job was done exactly once ({int((accounted.done == 0).sum())} missing, "
                                 f"{int((accounted.done > 1).sum())} twice): wait for all of them, and publish them once.")
    busy = busy_time(report_frame)
    longest = max(float(job["duration"]) for job in jobs)
    spread = busy.max() - busy.min()
    if len(busy) < 2:
        return report(False, "", "Only one worker did jobs: start a pool of two or more.")
    if spread > longest + slack:
        return report(False, "", f"Unfair: one worker was busy {busy.max():.1f} s, another {busy.min():.1f} s. Jobs went out "
                                 "round-robin whoever was busy: give each worker one job at a time (prefetch=1).")
    report(True, f"Fair: the workers' busy times differ by {spread:.1f} s, no more than the longest job ({longest:g} s).", "")
