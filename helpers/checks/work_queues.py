"""Checks for lessons 03-04: jobs shared by workers, fair dispatch with prefetch.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""


from ..amqp import queue_counts
from ..errors import CourseError
from ..management import management_api
from .report import SETTLE, check, queue_or_none, ready_count, report, short_lived


__all__ = ["LONG_JOB_SECONDS", "acks_after_work", "check_jobs_waiting", "check_every_job_done_once", "check_prefetch_choice", "check_fair_dispatch"]


JOB_FIELDS = ("job_id", "task", "payload", "duration")


def _job_or_none(text):
    import json

    try:
        job = json.loads(text)
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


@check
def check_jobs_waiting(queue, jobs, count=None, wait=5.0):
    """Lesson 03: does durable ``queue`` hold exactly ``jobs``, in order, each a persistent JSON
    message with every field of its job (job_id, task, payload, duration), with no consumer? With
    ``count``, ``jobs`` must be the ``make_jobs(count)`` the exercise gave. The messages are
    peeked, not taken."""
    from ..lab.workers import make_jobs

    if not isinstance(jobs, list) or not jobs or not all(isinstance(job, dict) for job in jobs):
        return report(False, "", "`exercise_jobs` should be the list that make_jobs(6) returns: run the cell above the exercise.")
    if count is not None and jobs != make_jobs(count):
        return report(False, "", f"`exercise_jobs` is no longer the {count} jobs the cell above the exercise made "
                                 f"(it holds {len(jobs)}): run that cell again and publish every one of its jobs.")
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it durable (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: delete it and declare it again with durable=True.")
    problem = short_lived(found, "a queue of jobs that must wait for a worker")
    if problem:
        return report(False, "", problem)
    if found.get("consumers", 0):
        return report(False, "", f"Queue '{queue}' has {found.get('consumers')} consumer(s) taking the jobs: stop the workers first.")
    # counted once it stands still, so a copy published right after the others is counted too
    have = ready_count(queue, len(jobs), wait=min(wait, 2.0), steady=SETTLE)
    if have != len(jobs):
        hint = "publish every one of them" if have < len(jobs) else "it holds more: run the cell above the exercise to empty it, and publish each job once"
        return report(False, "", f"Queue '{queue}' holds {have} message(s), not the {len(jobs)} jobs: {hint}.")
    messages = management_api().peek(queue, count=len(jobs))
    if len(messages) != len(jobs):
        return report(False, "", f"The broker handed out {len(messages)} of the {len(jobs)} messages to look at: run the check again.")
    for position, (job, message) in enumerate(zip(jobs, messages), start=1):
        body = _job_or_none(message["text"])
        if body is None:
            return report(False, "", f"Message {position} is not a JSON job: {message['text'][:60]!r}. Publish body=json.dumps(job).")
        if body.get("job_id") != job.get("job_id"):
            ids = [(_job_or_none(m["text"]) or {}).get("job_id") for m in messages]
            return report(False, "", f"The queue holds the jobs {ids}; expected {[j.get('job_id') for j in jobs]}, "
                                     "in that order: publish each job once, in the list's order.")
        wrong = [field for field in JOB_FIELDS if body.get(field) != job.get(field)]
        if wrong:
            return report(False, "", f"The message for {job.get('job_id')} does not carry the job's "
                                     f"{', '.join(wrong)}: publish the whole job, body=json.dumps(job).")
    transient = [job.get("job_id") for job, message in zip(jobs, messages) if message["delivery_mode"] != 2]
    if transient:
        return report(False, "", f"{len(transient)} of the {len(jobs)} jobs are transient ({', '.join(transient[:3])}...): a restart "
                                 "would lose them. Publish with properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent).")
    report(True, f"Queue '{queue}' holds the {len(jobs)} jobs, whole and in order, each a persistent message, waiting for a worker.", "")


def acks_after_work(pool):
    """From a pool's own record (``WorkerPool.acks``): how many acks each named the delivery in
    hand after its work was done, and the first ack that did not (or None)."""
    acks = pool.acks()
    good = acks[(acks.kind == "ack") & (acks.work_done == True) & (acks.delivery_tag == acks.in_hand)]  # noqa: E712
    bad = acks.drop(good.index)
    return len(good), (bad.iloc[0] if not bad.empty else None)


def ack_problem(bad):
    """The next step for an ack, nack or reject that was not an ack of the job in hand after its work."""
    if bad.kind != "ack":
        return f"A worker sent basic_{bad.kind} for a job it did: acknowledge a job done with ch.basic_ack."
    if bad.in_hand is None or bad.in_hand != bad.in_hand:  # NaN: outside a callback
        return "A worker acknowledged outside the callback: call ch.basic_ack inside on_message, after do_job(body)."
    if int(bad.delivery_tag) != int(bad.in_hand):
        return (f"A worker acknowledged delivery tag {int(bad.delivery_tag)} while it held delivery {int(bad.in_hand)}: "
                "acknowledge the message in hand, ch.basic_ack(delivery_tag=method.delivery_tag).")
    return "A worker acknowledged a job before doing it: a crash mid-job would lose it. Call do_job(body) first, then ch.basic_ack."


@check
def check_every_job_done_once(jobs, pool, workers, queue="tasks"):
    """Lesson 03: did ``pool`` (a WorkerPool, stopped) run ``workers`` workers on ``queue``, was
    every one of ``jobs`` done exactly once and acknowledged after its work (the workers' record
    of each basic_ack; auto-ack sends none), and does the broker hold none of them any more
    (nothing left ready or unacknowledged)?"""
    from ..lab.workers import WorkerPool, account_for

    if not isinstance(pool, WorkerPool):
        return report(False, "", f"`pool` should be the WorkerPool you started (with WorkerPool(...) as pool:), not {pool!r}.")
    if not isinstance(jobs, list) or not jobs:
        return report(False, "", "`exercise_jobs` should be the jobs the cell above the exercise made: run that cell again.")
    if pool.queue != queue:
        return report(False, "", f"The pool's workers consumed '{pool.queue}', not '{queue}': WorkerPool('{queue}', ...).")
    if len(pool.processes) != workers:
        return report(False, "", f"The pool started {len(pool.processes)} worker(s), not {workers}: WorkerPool(..., count={workers}).")
    if pool.alive():
        return report(False, "", f"{len(pool.alive())} worker(s) of the pool are still running: the task asks to stop them. "
                                 "Use the pool in a with block (it stops them at its end), or call pool.stop().")
    report_frame = pool.report()
    if report_frame.empty:
        return report(False, "", "The workers did no job: the cell above the exercise publishes them; wait for them "
                                 "inside the with block (pool.wait_for_jobs(len(exercise_jobs), timeout=30)).")
    accounted = account_for(jobs, report_frame)
    missing = list(accounted.job_id[accounted.done == 0])
    twice = list(accounted.job_id[accounted.done > 1])
    wanted = {job.get("job_id") for job in jobs}
    others = sorted(set(report_frame.job_id[report_frame.event == "done"]) - wanted)
    if missing:
        return report(False, "", f"{len(missing)} job(s) were never done: {', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}. "
                                 "Wait for all of them (pool.wait_for_jobs(len(exercise_jobs), timeout=...)) inside the with block.")
    if twice or others:
        return report(False, "", f"Done more than once or not among the exercise's jobs: {', '.join((twice + others)[:5])}. "
                                 "The cell above the exercise publishes them: run it again, and do not publish them again.")
    done = int((report_frame.event == "done").sum())
    acked, bad = acks_after_work(pool)
    if bad is not None:
        return report(False, "", ack_problem(bad))
    if acked < done:
        return report(False, "", f"The workers acknowledged {acked} of the {done} jobs they did (with auto_ack=True they send "
                                 "no ack: the broker deletes a job as it sends it, and a crash loses it). Consume with "
                                 "manual acks and call ch.basic_ack after do_job, as the lesson's consume function does.")
    if queue_or_none(queue) is None:
        return report(False, "", f"Queue '{queue}' is gone: run the cell above the exercise, then your pool again.")
    left = ready_count(queue, 0, wait=0)
    if left:
        return report(False, "", f"Queue '{queue}' still holds {left} job(s), back from a worker that did not acknowledge "
                                 "them: run the cell above the exercise, then a pool whose consume function acks each job.")
    shares = sorted(report_frame[report_frame.event == "done"].groupby("worker").size(), reverse=True)
    report(True, f"All {len(jobs)} jobs were done exactly once and acknowledged after their work, by a pool of {workers} "
                 f"workers (jobs each: {', '.join(map(str, shares))}), now stopped; the queue is empty.", "")


# A round trip to the broker and back: well under a millisecond on one machine, about one across
# a network. Jobs much longer than that gain nothing from a larger prefetch.
LONG_JOB_SECONDS = 0.01


@check
def check_prefetch_choice(jobs, prefetch):
    """Lesson 04: is ``prefetch`` a good prefetch_count for workers doing ``jobs``? Says why (not)."""
    import numbers

    durations = [float(job["duration"]) for job in jobs]
    mean, longest = sum(durations) / len(durations), max(durations)
    if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral) or prefetch < 0:
        return report(False, "", f"prefetch_count is a whole number, 0 or more (as in basic_qos(prefetch_count=...)); {prefetch!r} is not.")
    prefetch = int(prefetch)
    if prefetch == 0:
        return report(False, "", "0 means no limit: the broker pushes every job out at once, round-robin, whoever is busy, and "
                                 "each worker holds its share in memory. Set a limit.")
    if round(mean, 9) >= LONG_JOB_SECONDS:  # rounded: ten jobs of 0.01 s average 0.00999... in floats
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
    """Lesson 04: the check runs ``workers`` workers on ``consume(channel, queue, do_job)`` and
    ``jobs``. Right when the broker shows each consumer with prefetch 1 and manual acks, every job
    was done exactly once and acknowledged after its work with its own delivery tag (the workers'
    record of each basic_ack), and the broker holds none of them at the end. Nothing is timed."""
    from ..amqp import connect
    from ..lab.workers import WorkerPool, account_for, publish_jobs

    if not callable(consume):
        return report(False, "", f"`consume` should be your consume function, consume(channel, queue, do_job); it is {consume!r}.")
    stalled = None
    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        try:
            pool = WorkerPool(queue, count=workers, consume=consume, name="check-worker")
        except CourseError as error:
            channel.queue_delete(queue)
            why = str(error).split(" stopped at once: ", 1)[-1]  # the same for every worker: name none
            return report(False, "", f"The workers could not run your function: {why}")
        with pool:
            api = management_api()
            try:
                consumers = api.wait_for_consumers(queue, workers, timeout=10)
            except CourseError:
                channel.queue_delete(queue)
                return report(False, "", f"The broker does not list {workers} consumers of '{queue}' (one a worker): does your "
                                         "function call channel.basic_consume(queue=queue, on_message_callback=...) once?")
            prefetch = sorted(set(int(value or 0) for value in consumers["prefetch_count"]))
            manual_acks = bool(consumers["ack_required"].fillna(True).all())
            publish_jobs(channel, queue, jobs)
            limit = sum(float(job["duration"]) for job in jobs) + 10
            try:
                pool.wait_for_jobs(len(jobs), timeout=limit)
            except CourseError as error:
                stalled = str(error)
            # Every consumer is registered by now (the workers did jobs): the broker's own count, no lag.
            counted = queue_counts(queue, connection).consumers
        report_frame = pool.report()
        acked, bad = acks_after_work(pool)
        left = queue_counts(queue, connection).messages  # the pool has stopped: nothing unacked
        pool.cleanup()
        channel.queue_delete(queue)
    if counted != workers:
        return report(False, "", f"The broker counts {counted} consumers on '{queue}' for {workers} workers: call "
                                 "channel.basic_consume(queue=queue, on_message_callback=...) once in your function.")
    if not manual_acks:
        return report(False, "", "The broker shows your consumers with auto_ack: it deletes each job as it sends it, so a "
                                 "worker that crashes loses it, and prefetch does not apply. Leave auto_ack out and call "
                                 "ch.basic_ack(delivery_tag=method.delivery_tag) after do_job(body).")
    if prefetch != [1]:
        shown = "no limit (0)" if prefetch == [0] else ", ".join(map(str, prefetch))
        return report(False, "", f"The broker shows a prefetch of {shown} for your workers: with long, uneven jobs a worker "
                                 "then holds jobs a free worker could do. Call channel.basic_qos(prefetch_count=1) before basic_consume.")
    if bad is not None:
        return report(False, "", ack_problem(bad))
    accounted = account_for(jobs, report_frame)
    if stalled or not (accounted.done == 1).all():
        return report(False, "", f"Not every job was done exactly once ({int((accounted.done == 0).sum())} missing, "
                                 f"{int((accounted.done > 1).sum())} more than once): does your callback call do_job(body) "
                                 "and then ch.basic_ack(delivery_tag=method.delivery_tag)?")
    if acked < len(jobs) or left:
        return report(False, "", f"The workers acknowledged {acked} of the {len(jobs)} jobs; {left} went back to the queue "
                                 "when they stopped: acknowledge every job, ch.basic_ack(delivery_tag=method.delivery_tag), after do_job.")
    report(True, f"The broker shows prefetch 1 and manual acks for each of the {workers} workers, and every job was done "
                 "once and acknowledged after its work: a busy worker holds one job, the next goes to whoever is free.", "")
