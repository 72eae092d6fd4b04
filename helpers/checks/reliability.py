"""Checks for lessons 05-06: acknowledgements, durability, publisher confirms.

Each check prints one ✅/❌ line (see ``helpers.checks.report``). The acknowledgement checks see
each job's fate as the broker does: a job acknowledged is gone; a job rejected without requeue
is dead-lettered into the check's own ``<queue>.rejected`` queue (so a reject is never taken for
an ack); a job left unacknowledged is put back in the queue (basic_recover) before it is read.
"""

import json

from ..errors import CourseError
from ..management import management_api
from ..waiting import poll
from .report import SETTLE, check, queue_or_none, ready_count, report


__all__ = ["check_ack_after_work", "check_failed_job_dropped", "check_survives_restart", "check_publish_safely"]


def _fresh_queue_with_rejects(channel, queue):
    """Make ``queue`` anew (durable), dead-lettering what is rejected without requeue into
    ``<queue>.rejected``; return that queue's name."""
    rejected = f"{queue}.rejected"
    for name in (queue, rejected):
        channel.queue_delete(name)
    channel.queue_declare(rejected, durable=True)
    channel.queue_declare(queue, durable=True, arguments={"x-dead-letter-exchange": "",
                                                          "x-dead-letter-routing-key": rejected})
    return rejected


def _take_all(channel, queue):
    """Every job id left in ``queue``, taken (the check's own queues only)."""
    ids = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return ids
        try:
            ids.append(json.loads(body).get("job_id"))
        except (ValueError, AttributeError):
            ids.append(body.decode(errors="replace"))


def _closed_by_broker(error):
    """The next step for a channel the broker closed while the learner's code acked or rejected."""
    text = f"{error.reply_code} {error.reply_text}" if hasattr(error, "reply_text") else str(error)
    if "unknown delivery tag" in text:
        return (f"The broker closed the channel ({text}): your code acknowledged (or rejected) a delivery tag the "
                "broker had not given it, or had already been answered. Answer each message once, with its own "
                "tag: channel.basic_ack(method.delivery_tag).")
    return f"The broker closed the channel ({text}): did you acknowledge a message twice?"


ACK_JOBS = [
    {"job_id": "job-1", "task": "send-email", "payload": {"to": "ada@example.com", "subject": "Welcome!"}},
    {"job_id": "job-2", "task": "resize-image", "payload": {"image": "photos/corrupt.jpg", "size": "800x600"}, "fail": True},
    {"job_id": "job-3", "task": "generate-report", "payload": {"report": "sales-2026-11"}},
]


@check
def check_ack_after_work(handle, queue="check-ack-after-work"):
    """Lesson 05: does ``handle(channel, method, body, work)`` acknowledge a job only after
    ``work(job)`` succeeded? It takes three jobs from a real queue (``basic_get``, manual ack) and
    hands them to ``handle`` one after the other; the second one's work fails. Then the check puts
    back what is unacknowledged and reads what the broker kept: a job done must be gone
    (acknowledged, not rejected), the failed job must still be in the queue."""
    import pika

    from ..amqp import connect, publish

    if not callable(handle):
        return report(False, "", f"`handle_job` should be your function handle_job(channel, method, body, work); it is "
                                 f"{handle!r}. Run its cell, then this check.")
    done, given, errors = [], [], []
    expected = {job["job_id"]: job for job in ACK_JOBS}

    def work(job):
        given.append(job)
        if not isinstance(job, dict) or expected.get(job.get("job_id")) != job:
            raise TypeError("work(job) needs the job decoded from the message body")
        if job.get("fail"):
            raise RuntimeError(f"{job['job_id']} failed")
        done.append(job["job_id"])

    with connect(name="check") as connection:
        channel = connection.channel()
        rejected_queue = _fresh_queue_with_rejects(channel, queue)
        for job in ACK_JOBS:
            publish(channel, queue, job, persistent=True)
        taken = [channel.basic_get(queue, auto_ack=False) for _ in ACK_JOBS]  # delivery tags 1, 2, 3
        for method, _properties, body in taken:
            try:
                handle(channel, method, body, work)
            except pika.exceptions.AMQPError as error:
                errors.append(error)
                break
            except Exception:  # the failing job's error may come out of handle: that is allowed
                pass
        left, rejected = [], []
        if not errors:
            # Round trips on the channel the learner's code answered on, so every ack and reject it
            # sent is done first (an ack of an unknown tag closes the channel: they show it too).
            # basic_recover puts back what is still unacknowledged, and what was rejected is by then
            # in <queue>.rejected: each job is accounted for on every run, with no wait.
            try:
                channel.basic_recover(requeue=True)
                left = _take_all(channel, queue)
                rejected = _take_all(channel, rejected_queue)
            except pika.exceptions.AMQPError as error:
                errors.append(error)
    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_delete(rejected_queue)
    if errors:
        return report(False, "", _closed_by_broker(errors[0]))
    wrong = [job for job in given if not isinstance(job, dict) or expected.get(job.get("job_id")) != job]
    if wrong:
        return report(False, "", f"work(job) was given {type(wrong[0]).__name__} {str(wrong[0])[:40]!r}, not the whole job: "
                                 "decode the body first, job = json.loads(body), then call work(job).")
    not_worked = [job_id for job_id in ("job-1", "job-3") if job_id not in done]
    if not_worked:
        return report(False, "", f"Your function did not call work(job) for {not_worked[0]}: decode the job from body and "
                                 "call work(job) for every message it is given.")
    done_rejected = [job_id for job_id in ("job-1", "job-3") if job_id in rejected]
    if done_rejected:
        return report(False, "", f"{done_rejected[0]} was done, then rejected (basic_reject or basic_nack): the broker counts "
                                 "it as not done. After the work, acknowledge it: channel.basic_ack(method.delivery_tag).")
    unacked = [job_id for job_id in ("job-1", "job-3") if job_id in left]
    if unacked:
        return report(False, "", f"{unacked[0]} was done but never acknowledged: it went back to the queue when the "
                                 "connection closed, and would be done again. Call channel.basic_ack(method.delivery_tag) "
                                 "after the work.")
    if "job-2" in rejected:
        return report(False, "", "job-2's work failed and your function rejected it without requeue: the broker dropped a "
                                 "job that was never done. Let the error out (or basic_nack with requeue=True), so it stays "
                                 "in the queue.")
    if left.count("job-2") != 1:
        return report(False, "", "job-2's work failed, yet it is gone from the queue: it was acknowledged although it was "
                                 "never done (an ack before the work, in a finally, or with multiple=True). Acknowledge "
                                 "only after work(job) returns, and only the message in hand.")
    report(True, "job-1 and job-3 were acknowledged after their work; job-2, whose work failed, is still in the queue.", "")


def _consumers_of(api, queue, clients):
    """The broker's consumers of ``queue`` on the connections named ``clients`` (prefetch_count,
    ack_required), once it lists one; None before. Named, so an earlier try's are never read."""
    try:
        frame = api.consumers()
    except CourseError:
        return None
    mine = frame[(frame["queue"] == queue) & frame["client_name"].isin(list(clients))]
    return mine.to_dict("records") or None


@check
def check_failed_job_dropped(consume, queue="acks-exercise", failing="job-002", wait=10.0):
    """Lesson 05: run ``consume(channel, queue, do_job)`` in two workers on four jobs of which
    ``failing`` fails every time: is it tried once and rejected (not requeued), while the three
    others are done and acknowledged? The check makes the queue and the jobs itself.

    What it reads: the consumers' prefetch and ack mode as the broker lists them (the workers'
    own record of ``basic_qos`` if the management API has not listed them within 5 s); each
    job's fate as the broker sees it once the workers have stopped (acknowledged: gone; rejected
    without requeue: in ``<queue>.rejected``; requeued or never acknowledged: back in the queue);
    and the workers' reports of what they did. It stops the workers once every job was tried
    (not after a set time), so the verdict does not depend on how fast the machine is."""
    import uuid

    from ..amqp import connect
    from ..lab.workers import WorkerPool, make_jobs, publish_jobs

    if not callable(consume):
        return report(False, "", f"`consume` should be your consume function, consume(channel, queue, do_job); it is "
                                 f"{consume!r}. Run its cell, then this check.")
    jobs = make_jobs(4, durations=[0.1])
    for job in jobs:
        job["fail"] = job["job_id"] == failing
    succeed = sorted(job["job_id"] for job in jobs if not job["fail"])
    # Two jobs that succeed go first, one to each worker: the failing job is never a channel's first
    # delivery (tag 1), so a hard-coded delivery tag cannot answer it by luck.
    ordered = [job for job in jobs if not job["fail"]][:2] + [job for job in jobs if job["fail"]] + \
              [job for job in jobs if not job["fail"]][2:]
    api = management_api()
    with connect(name="check") as connection:
        channel = connection.channel()
        rejected_queue = _fresh_queue_with_rejects(channel, queue)
        try:  # a name of their own: the broker's list of consumers may still show an earlier try's for a moment
            pool = WorkerPool(queue, count=2, consume=consume, name=f"check-{uuid.uuid4().hex[:8]}")
        except CourseError as error:
            channel.queue_delete(queue)
            channel.queue_delete(rejected_queue)
            why = str(error).split(" stopped at once: ", 1)[-1]
            return report(False, "", f"The workers could not run your function: {why}")
        with pool:
            publish_jobs(channel, queue, ordered)

            def every_job_tried():
                events = pool.report()
                done = set(events.job_id[events.event == "done"])
                failed = ((events.job_id == failing) & (events.event == "failed")).any()
                return (done >= set(succeed) and failed) or not pool.alive()

            poll(every_job_tried, timeout=wait, interval=0.05)

            def listed():
                alive = pool.alive()
                return _consumers_of(api, queue, alive) if alive else "no worker left"

            consumers = poll(listed, timeout=min(wait, 5.0), interval=0.25)
            consumers = consumers if isinstance(consumers, list) else None
        events = pool.report()  # the workers have stopped: what they did not acknowledge is back in the queue
        recorded = pool.events(["consuming", "error"])
        pool.cleanup()
        left = _take_all(channel, queue)
        rejected = poll(lambda: _take_all(channel, rejected_queue), timeout=3 if failing not in left else 0.5) or []
        channel.queue_delete(queue)
        channel.queue_delete(rejected_queue)
    errors = recorded[recorded.event == "error"]
    if len(errors):
        return report(False, "", f"A worker stopped with an error from your function: {errors.iloc[0]['message']}. "
                                 "Catch JobFailed around do_job(body), and answer each message once, with its own "
                                 "method.delivery_tag.")
    if consumers:
        if not all(consumer.get("ack_required", True) for consumer in consumers):
            return report(False, "", "The broker lists your workers' consumers with auto_ack=True: it forgets each job as "
                                     "it sends it, so no ack or reject of yours counts. Consume with manual acks (the "
                                     "default), and ack or reject each message.")
        prefetch = sorted({consumer.get("prefetch_count") for consumer in consumers})
    else:  # the management API did not list them in time: the workers' own record of basic_qos
        prefetch = sorted(set(recorded["prefetch"].dropna().astype(int))) if "prefetch" in recorded else []
    if prefetch != [1]:
        return report(False, "", f"The broker shows your consumers with prefetch {', '.join(map(str, prefetch)) or 'none'}"
                                 " (0 = no limit): call channel.basic_qos(prefetch_count=1) before basic_consume.")
    failed = int(((events.job_id == failing) & (events.event == "failed")).sum())
    done = events.job_id[events.event == "done"].value_counts()
    for job_id in succeed:
        if job_id in rejected:
            return report(False, "", f"{job_id} was done, then rejected: the broker counts it as not done. Reject only on "
                                     "JobFailed; after do_job returns, ch.basic_ack(delivery_tag=method.delivery_tag).")
    for job_id in succeed:
        if job_id in left and done.get(job_id):
            return report(False, "", f"{job_id} was done, yet it is back in the queue once the workers stopped: it was never "
                                     "acknowledged (or acknowledged with a delivery tag typed in, which makes the broker close "
                                     "the channel). After do_job(body), ch.basic_ack(delivery_tag=method.delivery_tag).")
    if failed == 0:
        return report(False, "", f"{failing} never failed: did your callback call do_job(body) for every message?")
    if failing not in rejected and failing in left:
        return report(False, "", f"{failing} failed {failed} time(s) and is back in the queue: it was requeued (requeue=True, "
                                 "pika's default for basic_reject and basic_nack), or your reject did not reach it (a delivery "
                                 "tag typed in makes the broker close the channel, and what it held goes back). A job that "
                                 "can never succeed comes straight back: on JobFailed, "
                                 "ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False).")
    if failing not in rejected:
        return report(False, "", f"{failing} failed, yet the broker never saw it rejected: it was acknowledged as if it had "
                                 "succeeded (an ack for every message, or auto_ack=True). On JobFailed, "
                                 "ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False); ack only after do_job returns.")
    for job_id in succeed:
        if job_id in left or not done.get(job_id):
            return report(False, "", f"{job_id} was never done{' and is still in the queue' if job_id in left else ''}: after "
                                     "the failed job, do your workers go on to the next message?")
        if done.get(job_id, 0) != 1:
            return report(False, "", f"{job_id} was done {done.get(job_id, 0)} times; each of the three other jobs should "
                                     "be done once.")
    if failed > 1 or rejected.count(failing) != 1 or left:
        return report(False, "", f"{failing} failed {failed} times (rejected {rejected.count(failing)}); {len(left)} "
                                 "message(s) left: it should be tried once and rejected once.")
    report(True, f"{failing} failed once and was rejected, so it did not come back; the three others were done once and "
                 "acknowledged; the queue is empty.", "")


def _delivery_modes_and_texts(api, queue, at_most):
    """The messages waiting in ``queue``, looked at without taking them (the management API's get)."""
    return [(item["text"], item["delivery_mode"]) for item in api.peek(queue, count=at_most)]


@check
def check_survives_restart(queue, messages=None, texts=("a", "b", "c"), wait=5.0):
    """Lesson 06: would queue ``queue`` and its messages survive a broker restart? The queue: durable,
    not exclusive nor auto-delete (from its record on the broker). Its messages: exactly ``texts``
    (each once, none more), every one persistent unless it is a quorum queue (looked at with the
    management API's get, which puts them back). ``messages`` (a count) is for a caller that
    gives no texts; when it differs from ``len(texts)`` only the count is checked."""
    api = management_api()
    if messages is not None and messages != len(texts):
        texts = None
    count = len(texts) if texts is not None else messages
    found = poll(lambda: queue_or_none(queue), timeout=min(wait, 2.0), interval=0.2)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}': declare it first (durable=True).")
    kind = found.get("type") or (found.get("arguments") or {}).get("x-queue-type", "classic")
    if not found.get("durable") and not found.get("exclusive"):
        return report(False, "", f"Queue '{queue}' is not durable: a restart deletes it, with its messages. Delete it "
                                 "(channel.queue_delete) and declare it with durable=True.")
    if found.get("exclusive") or found.get("auto_delete"):
        what = "exclusive (it dies with its connection, so with any restart)" if found.get("exclusive") else \
            "auto-delete (it goes when its last consumer leaves)"
        return report(False, "", f"Queue '{queue}' is {what}: delete it (channel.queue_delete) and declare it "
                                 "durable=True, without exclusive or auto_delete.")
    ready_count(queue, count, wait=min(wait, 2.0), steady=SETTLE)  # a copy published right after the others counts too
    peeked = _delivery_modes_and_texts(api, queue, at_most=count + 20)
    if len(peeked) != count:
        return report(False, "", f"Queue '{queue}' holds {len(peeked)} message(s); it should hold exactly {count}"
                                 f"{' (' + ', '.join(map(repr, texts)) + ')' if texts else ''}. Run the exercise's first "
                                 "cell again (it deletes the queue), then publish each one once.")
    if texts is not None and sorted(text for text, _mode in peeked) != sorted(texts):
        got = ", ".join(repr(text[:20]) for text, _mode in peeked)
        return report(False, "", f"Queue '{queue}' holds {got}; it should hold {', '.join(map(repr, texts))}, each once "
                                 "(a plain text body: publish(channel, queue, \"a\", ...)).")
    transient = [text for text, mode in peeked if mode != 2]
    if transient and kind != "quorum":
        return report(False, "", f"{len(transient)} of the {count} messages are transient (first: {transient[0][:20]!r}): "
                                 "a restart would drop them. Publish every one with delivery_mode=Persistent "
                                 "(publish(..., persistent=True)).")
    report(True, f"Queue '{queue}' is durable and its {count} messages are {'in a quorum queue' if kind == 'quorum' else 'persistent'}"
                 ": they would survive a restart.", "")


@check
def check_publish_safely(publish_safely, exchange="check-publish-safely"):
    """Lesson 06: does ``publish_safely(channel, exchange, routing_key, body)`` return True only
    when the broker confirmed a persistent message into a queue, and False when no queue took it?
    The check reads the queue: exactly the one routed message, with the body it was given, persistent."""
    import pika

    from ..amqp import connect

    if not callable(publish_safely):
        return report(False, "", f"`publish_safely` should be your function publish_safely(channel, exchange, routing_key, "
                                 f"body); it is {publish_safely!r}. Run its cell, then this check.")
    queue = f"{exchange}-paid"
    with connect(name="check") as connection:
        setup = connection.channel()
        setup.exchange_delete(exchange)
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
        kept = []
        while True:
            method, properties, body = check.basic_get(queue, auto_ack=True)
            if method is None:
                break
            kept.append((body, properties.delivery_mode))
        check.queue_delete(queue)
        check.exchange_delete(exchange)
    if isinstance(routed, pika.exceptions.UnroutableError):
        return report(False, "", "Your function let pika.exceptions.UnroutableError out: catch it and return False.")
    if isinstance(routed, Exception):
        return report(False, "", f"Your function raised {type(routed).__name__} ({str(routed)[:80]}): publish with "
                                 "channel.basic_publish(exchange, routing_key, body, ...), and catch "
                                 "pika.exceptions.UnroutableError to return False.")
    if routed is False:
        return report(False, "", "For a message a queue would take (key 'paid'), your function returned False: publish to "
                                 "the exchange and with the routing key your function is given, with mandatory=True.")
    if routed is not True:
        return report(False, "", f"For a message a queue takes (key 'paid'), your function returned {routed!r}: it should "
                                 "publish it and return True once the broker has confirmed it.")
    if unrouted is not False:
        return report(False, "", f"For a message no queue takes, your function returned {unrouted!r}. Publish with mandatory=True: "
                                 "without it the broker drops such a message and still confirms it.")
    if len(kept) != 1:
        return report(False, "", f"The queue bound to key 'paid' should hold the one routed message; it holds {len(kept)}. "
                                 "Publish each message once, to the exchange and routing key you are given.")
    body, delivery_mode = kept[0]
    if body != b"order 1":
        return report(False, "", f"The queue holds {body[:30]!r}; the check gave your function b'order 1'. Publish the body "
                                 "as it is given.")
    if delivery_mode != 2:
        return report(False, "", "The message was confirmed, but it is transient: a restart would drop it. Publish it "
                                 "persistent: properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent).")
    report(True, "Confirmed and persistent when a queue takes it (True); returned when none does (False).", "")
