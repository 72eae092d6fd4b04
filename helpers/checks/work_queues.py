"""Checks for lessons 03-04: jobs shared by workers, fair dispatch with prefetch.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["LONG_JOB_SECONDS", "ready_count", "check_jobs_waiting", "check_every_job_done_once", "check_prefetch_choice", "check_fair_dispatch"]


def ready_count(queue, expected, wait=2.0):
    """The ready messages of ``queue`` from the broker itself (a passive declare, no statistics lag),
    read again for up to ``wait`` seconds while fewer than ``expected`` (a publish may be on its way)."""
    from ..amqp import connect
    from ..waiting import poll

    counts = []
    with connect(name="check") as connection:
        channel = connection.channel()

        def enough():
            counts.append(channel.queue_declare(queue, passive=True).method.message_count)
            return counts[-1] >= expected

        poll(enough, wait, interval=0.05)
    return counts[-1]


@check
def check_jobs_waiting(queue, jobs, wait=5.0):
    """Lesson 03: does durable ``queue`` hold exactly ``jobs`` (by job_id, in order), each a
    persistent message, with no consumer? The messages are peeked, not taken."""
    import json

    if not isinstance(jobs, list) or not jobs:
        return report(False, "", "`exercise_jobs` should be the list that make_jobs(6) returns: run the cell above the exercise.")
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it durable (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: delete it and declare it again with durable=True.")
    if found.get("consumers", 0):
        return report(False, "", f"Queue '{queue}' has {found.get('consumers')} consumer(s) taking the jobs: stop the workers first.")
    have = ready_count(queue, len(jobs), wait=min(wait, 2.0))
    if have != len(jobs):
        hint = "publish them" if have < len(jobs) else "it holds more: run the cell above the exercise to empty it, and publish once"
        return report(False, "", f"Queue '{queue}' holds {have} message(s), not the {len(jobs)} jobs: {hint}.")
    messages = management_api().peek(queue, count=len(jobs))
    ids = []
    for message in messages:
        try:
            ids.append(json.loads(message["text"]).get("job_id"))
        except (ValueError, AttributeError):
            return report(False, "", f"A message is not a JSON job: {message['text'][:60]!r}. Publish json.dumps(job).")
    wanted = [job.get("job_id") for job in jobs]
    if ids != wanted:
        return report(False, "", f"The queue holds the jobs {ids}; expected {wanted}, in that order.")
    transient = [job_id for job_id, message in zip(ids, messages) if message["delivery_mode"] != 2]
    if transient:
        return report(False, "", f"{len(transient)} of the {len(jobs)} jobs are transient ({', '.join(transient[:3])}...): a restart "
                                 "would lose them. Publish with properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent).")
    report(True, f"Queue '{queue}' holds the {len(jobs)} jobs, in order, each a persistent message, waiting for a worker.", "")


@check
def check_every_job_done_once(jobs, pool, workers):
    """Lesson 03: did ``pool`` (a WorkerPool) run ``workers`` workers that each did some of
    ``jobs``, and was every job done exactly once?"""
    from ..lab.workers import WorkerPool, account_for

    if not isinstance(pool, WorkerPool):
        return report(False, "", f"`pool` should be the WorkerPool you started (with WorkerPool(...) as pool:), not {pool!r}.")
    if len(pool.processes) != workers:
        return report(False, "", f"The pool started {len(pool.processes)} worker(s), not {workers}: WorkerPool(..., count={workers}).")
    report_frame = pool.report()
    if report_frame.empty:
        return report(False, "", "The workers did no job: publish the jobs first, then wait for them (pool.wait_for_jobs).")
    accounted = account_for(jobs, report_frame)
    missing = list(accounted.job_id[accounted.done == 0])
    twice = list(accounted.job_id[accounted.done > 1])
    if missing:
        return report(False, "", f"{len(missing)} job(s) were never done: {', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}. "
                                 "Wait for all of them (pool.wait_for_jobs(len(jobs), timeout=...)) inside the with block.")
    if twice:
        return report(False, "", f"Done more than once: {', '.join(twice[:5])}. Were the jobs published twice?")
    done = report_frame[report_frame.event == "done"]
    if done.worker.nunique() != workers:
        return report(False, "", f"Only {done.worker.nunique()} of the {workers} workers did jobs: were the workers consuming "
                                 "before the jobs ran out? Start the pool, then publish.")
    report(True, f"All {len(jobs)} jobs were done exactly once, shared by {workers} workers.", "")


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
def check_fair_dispatch(consume, jobs, queue="tasks", workers=2):
    """Lesson 04: does the consume function ``consume(channel, queue, do_job)`` set a prefetch of 1
    (as the broker reports it for each consumer) and share ``jobs`` fairly between ``workers``
    workers (busy times differ by at most the longest job)? The check runs the pool itself."""
    from ..amqp import connect
    from ..lab.workers import WorkerPool, account_for, busy_time, publish_jobs

    if not callable(consume):
        return report(False, "", f"`consume` should be your consume function, consume(channel, queue, do_job); it is {consume!r}.")
    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        try:
            pool = WorkerPool(queue, count=workers, consume=consume, name="check-worker")
        except CourseError as error:
            return report(False, "", f"The workers could not run your function: {error}")
        with pool:
            api = management_api()
            try:
                consumers = api.wait_for_consumers(queue, workers, timeout=10)
            except CourseError:
                return report(False, "", f"The broker does not list {workers} consumers of '{queue}': does your function call "
                                         "channel.basic_consume(queue=queue, on_message_callback=...)?")
            prefetch = sorted(set(int(value) for value in consumers["prefetch_count"]))
            publish_jobs(channel, queue, jobs)
            try:
                pool.wait_for_jobs(len(jobs), timeout=30)
            except CourseError as error:
                return report(False, "", f"{error} Does your callback call do_job(body) and then "
                                         "ch.basic_ack(delivery_tag=method.delivery_tag)?")
        report_frame = pool.report()
        pool.cleanup()
        channel.queue_delete(queue)
    if prefetch != [1]:
        shown = "no limit (0)" if prefetch == [0] else ", ".join(map(str, prefetch))
        return report(False, "", f"The broker shows a prefetch of {shown} for your workers: with long, uneven jobs a worker "
                                 "then holds jobs a free worker could do. Call channel.basic_qos(prefetch_count=1) before basic_consume.")
    accounted = account_for(jobs, report_frame)
    if not (accounted.done == 1).all():
        return report(False, "", f"Not every job was done exactly once ({int((accounted.done == 0).sum())} missing, "
                                 f"{int((accounted.done > 1).sum())} twice): acknowledge each job once, after do_job.")
    busy = busy_time(report_frame, workers=sorted(set(report_frame.worker)))
    longest = max(float(job["duration"]) for job in jobs)
    spread = float(busy.max() - busy.min())
    if len(busy) < workers or spread > longest + 0.3:
        return report(False, "", f"Prefetch 1, yet the busy times differ by {spread:.1f} s: run it again; if it stays, tell the instructor.")
    report(True, f"The broker shows prefetch 1 for both workers, and their busy times differ by {spread:.1f} s, "
                 f"no more than the longest job ({longest:g} s).", "")
