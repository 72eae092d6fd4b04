"""Checks for lessons 05-06: acknowledgements, durability, publisher confirms.

Each check prints one ✅/❌ line (see ``helpers.checks.report``).
"""

from ..errors import CourseError
from ..management import management_api
from .report import check, queue_or_none, report


__all__ = ["check_ack_after_work", "check_failed_job_dropped", "check_survives_restart", "check_publish_safely"]


@check
def check_ack_after_work(handle, queue="check-ack-after-work"):
    """Lesson 05: does ``handle(channel, method, body, work)`` acknowledge a job only after
    ``work(job)`` succeeded? It gets two jobs on a real queue; the second one's work fails."""
    import json

    import pika

    from ..amqp import connect, publish

    done, errors = [], []

    def work(job):
        if job.get("fail"):
            raise RuntimeError(f"{job['job_id']} failed")
        done.append(job["job_id"])

    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        publish(channel, queue, {"job_id": "job-ok", "task": "send-email"}, persistent=True)
        publish(channel, queue, {"job_id": "job-fails", "task": "resize-image", "fail": True}, persistent=True)
        for _ in range(2):
            try:
                method, _properties, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                handle(channel, method, body, work)
            except pika.exceptions.AMQPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                break
            except Exception:  # the failing job's error may come out of handle: that is allowed
                pass
    # The connection is closed: every job that was not acknowledged is back in the queue.
    with connect(name="check") as connection:
        channel = connection.channel()
        left = []
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            left.append(json.loads(body)["job_id"])
        channel.queue_delete(queue)
    if errors:
        return report(False, "", f"The broker closed the channel ({errors[0]}): did you acknowledge a message twice?")
    if "job-ok" not in done:
        return report(False, "", "Your function did not call work(job) for the job it was given.")
    if "job-ok" in left:
        return report(False, "", "job-ok was done but never acknowledged: it went back to the queue and would be done again. "
                                 "Call channel.basic_ack(method.delivery_tag) after the work.")
    if "job-fails" not in left:
        return report(False, "", "job-fails failed, yet it is gone from the queue: it was acknowledged (or rejected) although "
                                 "its work did not succeed. Acknowledge only after work(job) returns.")
    report(True, "job-ok was acknowledged after its work; job-fails, whose work failed, is still in the queue.", "")


def _acks_settled(queue, at_least=3, wait=6.0, settle=1.5):
    """The queue's acknowledgement count from the management API, once it has stopped rising."""
    import time

    from ..waiting import poll

    def acks():
        return ((queue_or_none(queue) or {}).get("message_stats") or {}).get("ack", 0)

    poll(lambda: acks() >= at_least, wait, interval=0.25)
    time.sleep(settle)  # a late ack (a job done twice) would still be counted
    return acks()


@check
def check_failed_job_dropped(consume, queue="acks-exercise", failing="job-002"):
    """Lesson 05: run ``consume(channel, queue, do_job)`` in two workers on four jobs of which
    ``failing`` fails every time: is it tried once and rejected (not requeued), while the three
    others are done and acknowledged? The check makes the queue and the jobs itself."""
    from ..amqp import connect
    from ..lab.workers import WorkerPool, make_jobs, publish_jobs

    if not callable(consume):
        return report(False, "", f"`consume` should be your consume function, consume(channel, queue, do_job); it is {consume!r}.")
    jobs = make_jobs(4, durations=[0.1])
    for job in jobs:
        job["fail"] = job["job_id"] == failing
    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        publish_jobs(channel, queue, jobs)
        try:
            pool = WorkerPool(queue, count=2, consume=consume, name="check-worker")
        except CourseError as error:
            return report(False, "", f"The workers could not run your function: {error}")
        with pool:
            try:
                pool.wait_for_jobs(3, timeout=10)
            except CourseError as error:
                return report(False, "", f"{error} Does your callback call do_job(body), then ack?")
            import time

            time.sleep(1.0)  # long enough for a requeued job to come back several times
        events = pool.report()
        pool.cleanup()
        left = channel.queue_declare(queue, passive=True).method.message_count
        acked = _acks_settled(queue)
        channel.queue_delete(queue)
    failed = int(((events.job_id == failing) & (events.event == "failed")).sum())
    done = sorted(set(events.job_id[events.event == "done"]))
    if failed == 0:
        return report(False, "", f"{failing} never failed: did your callback call do_job(body) for every message?")
    if failed > 1:
        return report(False, "", f"{failing} failed {failed} times in a second: it was requeued, and a job that can never succeed "
                                 "comes straight back. On JobFailed, ch.basic_reject(delivery_tag=..., requeue=False).")
    if left:
        return report(False, "", f"{left} message(s) are still in the queue: acknowledge each job after do_job, and reject the failed one.")
    if acked > 3:
        return report(False, "", f"The broker counted {acked} acknowledgements for 4 jobs: {failing} was acknowledged as if it had "
                                 "succeeded. On JobFailed, reject it (ch.basic_reject(..., requeue=False)) instead of acking it.")
    if done != sorted(job["job_id"] for job in jobs if not job["fail"]):
        return report(False, "", f"Done: {done}; the three other jobs should all be done.")
    report(True, f"{failing} failed once and was rejected, so it did not come back; the three others were done; the queue is empty.", "")


@check
def check_survives_restart(queue, messages, wait=5.0):
    """Lesson 06: would queue ``queue`` and its ``messages`` messages survive a broker restart?
    (A durable queue, not exclusive nor auto-delete; persistent messages, unless it is a quorum queue.)"""
    api = management_api()
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}': declare it first.")
    if not found.get("durable") or found.get("exclusive") or found.get("auto_delete"):
        return report(False, "", f"Queue '{queue}' would not survive a restart: declare it durable=True (not exclusive, not "
                                 "auto-delete). Delete it first (channel.queue_delete) to change that.")
    try:
        api.wait_for_queue(queue, timeout=wait, messages=messages)
    except CourseError:
        have = (queue_or_none(queue) or {}).get("messages", 0)
        return report(False, "", f"Queue '{queue}' holds {have} message(s); it should hold {messages}.")
    transient = [item for item in api.peek(queue, count=messages) if item["delivery_mode"] != 2]
    if transient and found.get("type") != "quorum":
        return report(False, "", f"{len(transient)} of the {messages} messages are transient: a restart would drop them. "
                                 "Publish with delivery_mode=Persistent (publish(..., persistent=True)).")
    report(True, f"Queue '{queue}' is durable and its {messages} messages are persistent: they would survive a restart.", "")


@check
def check_publish_safely(publish_safely, exchange="check-publish-safely"):
    """Lesson 06: does ``publish_safely(channel, exchange, routing_key, body)`` return True only
    when the broker confirmed a persistent message into a queue, and False when no queue took it?"""
    from ..amqp import connect

    queue = f"{exchange}-paid"
    with connect(name="check") as connection:
        setup = connection.channel()
        setup.exchange_declare(exchange, exchange_type="direct", durable=True)
        setup.queue_delete(queue)
        setup.queue_declare(queue, durable=True)
        setup.queue_bind(queue, exchange, routing_key="paid")
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            routed = publish_safely(channel, exchange, "paid", b"order 1")
            unrouted = publish_safely(channel, exchange, "no-such-key", b"order 2")
        except Exception as error:  # the learner's function let an error out: say which
            routed = unrouted = error
        if channel.is_open:
            channel.close()
        check = connection.channel()
        kept = check.queue_declare(queue, passive=True).method.message_count
        method, properties, _body = check.basic_get(queue, auto_ack=True)
        check.queue_delete(queue)
        check.exchange_delete(exchange)
    if isinstance(routed, Exception):
        return report(False, "", f"Your function raised {type(routed).__name__}: catch pika.exceptions.UnroutableError and return False.")
    if routed is not True:
        return report(False, "", f"For a message a queue took, your function returned {routed!r}; it should return True.")
    if unrouted is not False:
        return report(False, "", f"For a message no queue takes, your function returned {unrouted!r}. Publish with mandatory=True: "
                                 "without it the broker drops such a message and still confirms it.")
    if kept != 1:
        return report(False, "", f"The queue should hold the one routed message; it holds {kept}.")
    if method is not None and properties.delivery_mode != 2:
        return report(False, "", "The message was confirmed, but it is transient: a restart would drop it. Publish it persistent.")
    report(True, "Confirmed and persistent when a queue takes it (True); returned when none does (False).", "")
