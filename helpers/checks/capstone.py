"""Lesson 16's checks: the pipeline's three steps, each judged by what the broker holds and did.

- ``check_publish_job``: the check publishes jobs it made up (ids and a task the lesson never
  showed) with the learner's function, and reads each message as the exchange routed it.
- ``check_pipeline_topology``: the check deletes the pipeline, runs the learner's function twice,
  reads every exchange, queue and argument, and sends probes: routing keys that tell ``jobs.*``
  from its near misses, a rejected message, a message in each retry tier.
- ``check_pipeline_worker``: the check declares the course's pipeline, runs the learner's worker
  function in two real worker processes on jobs that work, fail once, fail always, and a message
  that is not JSON, and reads where each ended, each worker's prefetch and ack mode as the broker
  shows them, and every publish and ack the workers sent, in order.
"""

import json
import time
import uuid

import pika

from ..amqp import connect, drain, queue_counts
from ..errors import CourseError
from ..lab.capstone import (BINDING_KEY, DEAD, DEAD_LETTERS, EXCHANGE, EXCHANGES, PARKED, QUEUES, RESULTS,
                            RETRY_DELAYS, WORK)
from ..lab.dead_letters import probe_dead_lettering, x_death
from ..management import management_api
from ..waiting import poll
from .report import check, report, short_lived

__all__ = ["check_publish_job", "check_pipeline_topology", "check_pipeline_worker"]

RETRIES = list(RETRY_DELAYS)


def _made_up_jobs(tasks):
    """Jobs the learner cannot have typed: fresh ids, and the tasks given."""
    tag = uuid.uuid4().hex[:6]
    return [{"job_id": f"check-{tag}-{number}", "task": task, "payload": {"n": number}} for number, task in enumerate(tasks, 1)]


# -- step 1: the producer -------------------------------------------------------------------------
@check
def check_publish_job(publish_job):
    """Right when ``pipeline.jobs`` is a durable topic exchange and ``publish_job(channel, job,
    reply_to)`` publishes each job once to it, with routing key ``jobs.<task>``, the job as its JSON
    body (content type application/json), persistent, its ``job_id`` as correlation id and the
    given ``reply_to``."""
    if not callable(publish_job):
        return report(False, "", f"`publish_job` should be your function publish_job(channel, job, reply_to); it is {publish_job!r}.")
    api = management_api()
    try:
        exchange = api.exchange(EXCHANGE)
    except CourseError:
        return report(False, "", f"There is no exchange '{EXCHANGE}': declare it in your cell, "
                                 f"channel.exchange_declare('{EXCHANGE}', exchange_type='topic', durable=True).")
    if exchange.get("type") != "topic" or not exchange.get("durable"):
        return report(False, "", f"'{EXCHANGE}' is a {'durable' if exchange.get('durable') else 'non-durable'} "
                                 f"{exchange.get('type')} exchange: the pipeline needs a durable topic exchange. Run the "
                                 f"exercise's first cell again (it deletes it) and declare it with exchange_type='topic', durable=True.")
    jobs = _made_up_jobs(["resize-image", "transcode-video", "send-email"])
    reply_to = f"check.replies.{uuid.uuid4().hex[:6]}"
    with connect(name="check") as connection:
        channel = connection.channel()
        captured = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(captured, EXCHANGE, routing_key="#")
        yours = connection.channel()
        yours.confirm_delivery()
        published_on_yours = []
        send = yours.basic_publish
        yours.basic_publish = lambda *args, **kwargs: published_on_yours.append(1) or send(*args, **kwargs)
        for job in jobs:
            try:
                publish_job(yours, dict(job), reply_to)
            except pika.exceptions.AMQPError as error:
                return report(False, "", f"publish_job failed for {job}: {type(error).__name__} {error}. Publish with "
                                         f"channel.basic_publish(exchange='{EXCHANGE}', routing_key=..., body=..., properties=...).")
        messages = drain(channel, captured, idle_timeout=0.5, deadline=5)
    if messages and not published_on_yours:
        return report(False, "", "Your function published on a channel of its own, not on the `channel` it is given: the "
                                 "caller chooses the channel (here one with publisher confirms on). Use channel.basic_publish(...).")
    if not messages:
        return report(False, "", f"Nothing your function published reached '{EXCHANGE}': publish with "
                                 f"exchange='{EXCHANGE}' (the default exchange '' delivers by queue name, and drops the rest).")
    if len(messages) != len(jobs):
        return report(False, "", f"For {len(jobs)} jobs, '{EXCHANGE}' received {len(messages)} messages: publish each job once.")
    for job, message in zip(jobs, messages):
        properties = message.properties
        try:
            body = json.loads(message.body)
        except ValueError:
            return report(False, "", f"A job's body was {message.text[:60]!r}, not JSON: publish json.dumps(job) "
                                     "(str(job) writes Python, with single quotes, that another program cannot read).")
        if body != job:
            return report(False, "", f"For the job {job} the body was {body}: publish the job you were given, json.dumps(job).")
        if message.routing_key != f"jobs.{job['task']}":
            return report(False, "", f"The job with task {job['task']!r} was published with routing key {message.routing_key!r}: "
                                     "use f\"jobs.{job['task']}\", so a binding can choose jobs by task.")
        if properties.delivery_mode != 2:
            return report(False, "", "Your jobs are transient: a broker restart loses them even in a durable queue. Publish with "
                                     "properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, ...).")
        if properties.content_type != "application/json":
            return report(False, "", f"The content type is {properties.content_type!r}: say what the body is, "
                                     "content_type='application/json', so any consumer knows how to read it.")
        if properties.correlation_id != job["job_id"]:
            return report(False, "", f"The job {job['job_id']!r} has correlation_id {properties.correlation_id!r}: set "
                                     "correlation_id=job['job_id'], so its result can be matched to it.")
        if properties.reply_to != reply_to:
            return report(False, "", f"The check asked for replies to {reply_to!r}, and the message says reply_to="
                                     f"{properties.reply_to!r}: pass on the reply_to your function is given.")
    report(True, f"Each job reached '{EXCHANGE}' (a durable topic exchange) once, with routing key jobs.<task>, as persistent "
                 "JSON, with its job_id as correlation id and the reply_to it was given.", "")


# -- step 2: the queues and exchanges -------------------------------------------------------------
ROUTED = ["jobs.resize-image", "jobs.transcode-video"]
NOT_ROUTED = ["jobs", "jobs.resize-image.large", "other.resize-image", "resize-image"]
LEAVE_BY_THEMSELVES = ["x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-dead-letter-exchange"]


def _delete_pipeline(channel):
    for queue in QUEUES:
        channel.queue_delete(queue)
    for exchange in EXCHANGES:
        channel.exchange_delete(exchange)


def _get_all(channel, queue):
    """Take (and ack) every message of ``queue``: their message ids."""
    ids = []
    while True:
        method, properties, body = channel.basic_get(queue)
        if method is None:
            return ids
        ids.append(properties.message_id)
        channel.basic_ack(method.delivery_tag)


def _routing_probe(channel):
    """Which of the probe keys, published to the exchange, reach the work queue."""
    channel.confirm_delivery()
    for key in ROUTED + NOT_ROUTED:
        channel.basic_publish(EXCHANGE, key, b"probe", properties=pika.BasicProperties(message_id=key, delivery_mode=2))
    return set(_get_all(channel, WORK))


def _retry_probe(channel, wait):
    """Publish a probe into each retry tier; return where each came out: the work queue, or None."""
    for queue in RETRIES:
        channel.basic_publish("", queue, b"probe", properties=pika.BasicProperties(message_id=queue, delivery_mode=2))
    back = set()
    poll(lambda: back.update(_get_all(channel, WORK)) or back >= set(RETRIES), wait, interval=0.1)
    return back


@check
def check_pipeline_topology(declare_pipeline, wait=5.0):
    """Right when ``declare_pipeline(channel)``, run twice on an empty broker, declares the
    pipeline: a durable topic exchange routing ``jobs.<task>`` (one word after ``jobs.``, no more,
    no less) to the durable work queue, whose rejected messages go through a durable fanout
    exchange to the dead-letter queue; two retry tiers with their TTLs that send expired messages
    back to the work queue; a parking lot nothing leaves by itself; a durable results queue."""
    if not callable(declare_pipeline):
        return report(False, "", f"`declare_pipeline` should be your function declare_pipeline(channel); it is {declare_pipeline!r}.")
    api = management_api()
    with connect(name="check") as connection:
        _delete_pipeline(connection.channel())
        for attempt in ("first", "second"):
            try:
                declare_pipeline(connection.channel())
            except pika.exceptions.ChannelClosedByBroker as error:
                again = " (the first worked: declare each thing the same way every time)" if attempt == "second" else ""
                return report(False, "", f"The {attempt} call of declare_pipeline failed{again}: the broker said "
                                         f"{error.reply_code} {error.reply_text}.")
            except pika.exceptions.UnsupportedAMQPFieldException as error:
                return report(False, "", f"pika cannot send an argument of yours ({error}): x-message-ttl is an integer "
                                         "of milliseconds, 500 rather than 0.5.")
            except Exception as error:  # noqa: BLE001 - the learner's own code failed: say where
                return report(False, "", f"declare_pipeline raised {type(error).__name__}: {error}. Fix that line in your "
                                         "function, run its cell, then this check.")
        for name, kind in ((EXCHANGE, "topic"), (DEAD_LETTERS, "fanout")):
            try:
                exchange = api.exchange(name)
            except CourseError:
                return report(False, "", f"declare_pipeline did not declare the exchange '{name}' ({kind}, durable).")
            if exchange.get("type") != kind or not exchange.get("durable"):
                return report(False, "", f"'{name}' is a {'durable' if exchange.get('durable') else 'non-durable'} "
                                         f"{exchange.get('type')} exchange: declare it with exchange_type='{kind}', durable=True.")
        found = {}
        for name in QUEUES:
            try:
                found[name] = api.queue(name)
            except CourseError:
                return report(False, "", f"declare_pipeline did not declare the queue '{name}'.")
            vanishes = short_lived(found[name], "a pipeline")
            if vanishes:
                return report(False, "", vanishes.replace("Run the exercise's first cell again and declare",
                                                          "Declare").replace("durable=True only", "durable=True"))
            if not found[name].get("durable"):
                return report(False, "", f"Queue '{name}' is not durable: a broker restart deletes it with the jobs in it. "
                                         "Declare it with durable=True.")
        leaves = [key for key in LEAVE_BY_THEMSELVES[:-1] if key in found[WORK].get("arguments", {})]
        if leaves:
            return report(False, "", f"'{WORK}' has {', '.join(leaves)}: jobs would leave it with no worker having done "
                                     "them. Give the work queue only its dead-letter exchange.")
        bindings = api.binding_list()
        into_work = sorted({binding["source"] for binding in bindings if binding["destination"] == WORK} - {"", EXCHANGE})
        if into_work:
            return report(False, "", f"'{WORK}' is also bound to {', '.join(into_work)}: it should get jobs from "
                                     f"'{EXCHANGE}' only (a binding to '{DEAD_LETTERS}' would send rejected jobs back into it).")
        from_jobs = sorted({binding["destination"] for binding in bindings if binding["source"] == EXCHANGE} - {WORK})
        if from_jobs:
            return report(False, "", f"'{EXCHANGE}' also routes jobs to {', '.join(from_jobs)}: every job would reach "
                                     f"it as well as '{WORK}'. Bind only '{WORK}' to '{EXCHANGE}'.")
        work_arguments = {**(found[WORK].get("effective_policy_definition") or {}), **found[WORK].get("arguments", {})}
        target = work_arguments.get("x-dead-letter-exchange", work_arguments.get("dead-letter-exchange"))
        if target is None:
            return report(False, "", f"'{WORK}' has no dead-letter exchange, so what it rejects is dropped: declare it with "
                                     f"arguments={{'x-dead-letter-exchange': '{DEAD_LETTERS}'}}.")
        if target != DEAD_LETTERS:
            return report(False, "", f"What '{WORK}' rejects goes to the exchange {target!r}: send it through the dead-letter "
                                     f"exchange, arguments={{'x-dead-letter-exchange': '{DEAD_LETTERS}'}}, so that more than one "
                                     "queue (an alert, an archive) can be bound to it.")
        for name, milliseconds in RETRY_DELAYS.items():
            ttl = found[name].get("arguments", {}).get("x-message-ttl")
            if ttl != milliseconds:
                return report(False, "", f"'{name}' has x-message-ttl {ttl!r}: a job waits {milliseconds} ms there, so "
                                         f"arguments={{'x-message-ttl': {milliseconds}, ...}} (milliseconds, an int).")
        parked_arguments = found[PARKED].get("arguments", {})
        leaves = [key for key in LEAVE_BY_THEMSELVES if key in parked_arguments]
        if leaves:
            return report(False, "", f"'{PARKED}' has {', '.join(leaves)}: a parked job must wait there for a person, "
                                     "so declare the parking lot with no arguments.")
        channel = connection.channel()
        for name in QUEUES:
            channel.queue_purge(name)
        routed = _routing_probe(channel)
        wrong = sorted((set(ROUTED) - routed) | (routed & set(NOT_ROUTED)))
        if wrong:
            reached = ", ".join(key for key in ROUTED + NOT_ROUTED if key in routed) or "none"
            return report(False, "", f"Of the probe keys {', '.join(ROUTED + NOT_ROUTED)}, '{WORK}' got: {reached}. It should "
                                     f"get exactly jobs.<one word>: bind it to '{EXCHANGE}' with routing_key='{BINDING_KEY}'.")
        outcome, death = probe_dead_lettering(WORK, DEAD, wait=wait)
        if outcome != "dead-lettered":
            return report(False, "", f"A message '{WORK}' rejected (requeue=False) did not reach '{DEAD}': give '{WORK}' "
                                     f"arguments={{'x-dead-letter-exchange': '{DEAD_LETTERS}'}} and bind '{DEAD}' to '{DEAD_LETTERS}'.")
        back = _retry_probe(channel, wait=max(RETRY_DELAYS.values()) / 1000 + wait)
        for name in RETRIES:
            if name not in back:
                elsewhere = [queue for queue in (DEAD, PARKED, name) if queue_counts(queue, connection).messages]
                where = f"it is in {', '.join(elsewhere)}" if elsewhere else "it was dropped"
                return report(False, "", f"A message that expired in '{name}' did not come back to '{WORK}' ({where}): give "
                                         f"'{name}' 'x-dead-letter-exchange': '' and 'x-dead-letter-routing-key': '{WORK}'.")
        for name in QUEUES:
            channel.queue_purge(name)
    report(True, f"The pipeline is there, declared the same way twice: '{EXCHANGE}' routes jobs.<task> (and none of "
                 f"{', '.join(NOT_ROUTED)}) to '{WORK}', whose rejects reach '{DEAD}'; each retry tier holds a job "
                 f"{' ms, then '.join(str(ms) for ms in RETRY_DELAYS.values())} ms and sends it back; '{PARKED}' keeps what "
                 "it gets; every queue is durable.", "")


# -- step 3: the worker ---------------------------------------------------------------------------
RETRY_ROUTE = [*RETRIES, PARKED]


def _route_problem(routes, expected, what):
    """The next step when a failing job's publishes (routing keys, in order) were not ``expected``."""
    if routes == expected:
        return None
    said = " → ".join(routes) or "nothing"
    return (f"The job that {what} was published to: {said}; its failures should go to {' → '.join(expected)}. On a "
            "JobFailed publish the job to pipeline.retry.<attempt> for attempts 1 and 2 and to pipeline.parked after the "
            "third, counting attempts in a header 'attempts' you set on each copy.")


def _hint_for(error):
    """The next step for an error a worker stopped with."""
    if "JobFailed" in error:
        return " Catch it: a job that fails goes to the next retry tier."
    if "Expecting" in error or "JSONDecodeError" in error:
        return " A body that is not JSON makes do_job raise ValueError: catch it and reject the message."
    if "NameError" in error:
        return (" The function runs in worker processes that know only json, pika, time and JobFailed: write the "
                "queue names out in it.")
    if "routing_key" in error:
        return (" A result went to reply_to None: a job back from a retry tier lost its reply_to. Copy reply_to and "
                "correlation_id onto every copy you publish to a retry tier.")
    return ""


@check
def check_pipeline_worker(consume, workers=2, limit=20.0):
    """Right when ``consume(channel, queue, do_job)``, run by ``workers`` worker processes on the
    course's pipeline, shows prefetch 1 and manual acks on the broker; sends each job's result to its
    reply_to (persistent, with its correlation id); sends a failed job to pipeline.retry.1, then
    pipeline.retry.2, then pipeline.parked (with an ``attempts`` header of 3 there); rejects a body
    that is not JSON so that it is dead-lettered; and acknowledges every delivery it handled, after
    what it published for it, on a channel with publisher confirms (so the broker has it before the
    ack). Nothing is timed: the order comes from the workers' own records."""
    from ..lab.capstone import declare_pipeline, publish_job
    from ..lab.workers import WorkerPool
    from .work_queues import ack_problem

    if not callable(consume):
        return report(False, "", f"`consume` should be your worker function consume(channel, queue, do_job); it is {consume!r}.")
    jobs = _made_up_jobs(["resize-image", "send-email", "generate-report", "transcode-video", "send-email"])
    for job in jobs:
        job["duration"] = 0.05
    succeed, fails_once, fails_always = jobs[:3], jobs[3], jobs[4]
    fails_once["fail_times"], fails_always["fail"] = 1, True
    replies = f"check.replies.{jobs[0]['job_id']}"
    reply_to = {job["job_id"]: (replies if number % 2 else RESULTS) for number, job in enumerate(jobs)}
    poison = b"resize image 7, please"
    api = management_api()
    with connect(name="check") as connection:
        channel = connection.channel()
        _delete_pipeline(channel)
        declare_pipeline(channel)
        channel.queue_declare(replies, durable=True)
        try:
            pool = WorkerPool(WORK, count=workers, consume=consume, name="check-worker")
        except CourseError as error:
            _delete_pipeline(channel)
            channel.queue_delete(replies)
            why = str(error).split(" stopped at once: ", 1)[-1].removeprefix("CourseError: ")
            if "start consuming" in why:
                why += (" Does your function call channel.start_consuming()? Leave it out: the worker serves the "
                        "connection itself once your function has called basic_consume.")
            return report(False, "", f"The workers could not run your function: {why}")
        with pool:
            try:
                consumers = api.wait_for_consumers(WORK, workers, timeout=10)
            except CourseError:
                return report(False, "", f"The broker does not list {workers} consumers of '{WORK}' (one a worker): call "
                                         "channel.basic_consume(queue=queue, on_message_callback=on_message) once in your function.")
            prefetch = sorted(set(int(value or 0) for value in consumers["prefetch_count"]))
            manual_acks = bool(consumers["ack_required"].fillna(True).all())
            publishing = connection.channel()
            publishing.confirm_delivery()
            for job in jobs:
                publish_job(publishing, job, reply_to[job["job_id"]])
            publishing.basic_publish(EXCHANGE, "jobs.resize-image", poison,
                                     properties=pika.BasicProperties(delivery_mode=2, message_id="not-json"))

            last_change = {"state": None, "at": time.monotonic()}

            def settled():
                """Every job ended where it should, or a job loops, or a worker died, or nothing moved
                for 1.5 s with no job waiting anywhere (a wrong answer that lost or parked one)."""
                counts = {name: queue_counts(name, connection).messages for name in (WORK, *RETRIES, RESULTS, replies, PARKED, DEAD)}
                ended = (counts[RESULTS] + counts[replies] >= len(succeed) + 1 and counts[PARKED] >= 1 and counts[DEAD] >= 1)
                report_frame, acks = pool.report(), pool.acks()
                looping = (report_frame[report_frame.event == "started"].job_id.value_counts() > 4).any()
                poison_loop = int(acks.job_in_hand.isna().sum()) > 4
                state = (len(report_frame), len(acks), len(pool.publishes()), tuple(counts.values()))
                if state != last_change["state"]:
                    last_change.update(state=state, at=time.monotonic())
                quiet = (not any(counts[name] for name in (WORK, *RETRIES))
                         and time.monotonic() - last_change["at"] > 1.5)
                return ended or looping or poison_loop or quiet or not pool.alive()

            poll(settled, limit, interval=0.2)
            time.sleep(0.3)  # a copy published in the last moment is counted too
        events, acks, publishes, subscribed = pool.report(), pool.acks(), pool.publishes(), pool.events(["consuming"])
        died = [worker for worker, process in pool.processes.items() if process.returncode not in (None, 0, -15)]
        errors = [pool.why_stopped(worker) for worker in died]
        results = {queue: drain(channel, queue, idle_timeout=0.3) for queue in (RESULTS, replies)}
        parked = drain(channel, PARKED, idle_timeout=0.3)
        dead = drain(channel, DEAD, idle_timeout=0.3)
        left = {name: queue_counts(name, connection).messages for name in (WORK, *RETRIES)}
        _delete_pipeline(channel)
        channel.queue_delete(replies)
        pool.cleanup()

    if not manual_acks:
        return report(False, "", "The broker shows your consumers with auto_ack: each job is deleted as it is sent, so a "
                                 "worker that dies loses it. Leave auto_ack out and acknowledge each delivery yourself.")
    if prefetch != [1]:
        shown = "no limit (0)" if prefetch == [0] else ", ".join(map(str, prefetch))
        return report(False, "", f"The broker shows a prefetch of {shown} for your workers: call "
                                 "channel.basic_qos(prefetch_count=1) before basic_consume, so a busy worker holds one job.")
    if errors:
        return report(False, "", f"A worker stopped with an error in your function: {errors[0]}.{_hint_for(errors[0])}")
    outside = acks[acks.in_hand.isna() | (acks.delivery_tag != acks.in_hand)]
    if not outside.empty:
        return report(False, "", ack_problem(outside.iloc[0]))
    for answer in acks.itertuples():
        later = publishes[(publishes.worker == answer.worker) & (publishes.in_hand == answer.in_hand)
                          & (publishes.time > answer.time)]
        if not later.empty:
            return report(False, "", f"A worker sent basic_{answer.kind} for a delivery and only then published "
                                     f"to '{later.iloc[0].routing_key}' for it: had it died in between, that would be lost. "
                                     "Publish first, then acknowledge.")
    refused = acks[(acks.job_in_hand == fails_always["job_id"]) & acks.kind.isin(["nack", "reject"])]
    if not refused.empty:
        return report(False, "", f"Your worker answered a failed job with basic_{refused.iloc[0].kind}: requeued, it comes "
                                 "back at once, again and again; not requeued, it is dead-lettered as if it could never work. "
                                 "Publish it to pipeline.retry.<attempt> (pipeline.parked after the third try), then ack it.")
    answered = set(zip(acks.worker, acks.in_hand))
    unanswered = [(worker, tag) for worker, tag in zip(publishes.worker, publishes.in_hand)
                  if tag == tag and tag is not None and (worker, tag) not in answered]
    if unanswered:
        return report(False, "", "A worker published for a delivery and never acknowledged it: with prefetch 1 it then "
                                 "gets no other job. Call ch.basic_ack(delivery_tag=method.delivery_tag) after you publish "
                                 "the result or the retry.")
    poison_dead = [message for message in dead if message.body == poison]
    if not poison_dead:
        in_parked = any(message.body == poison for message in parked)
        nacks = acks[acks.job_in_hand.isna()]
        why = ("it went to the parking lot: a message that is not JSON can never work" if in_parked else
               "it was delivered again and again" if len(nacks) > 1 else "it was acknowledged and is gone")
        return report(False, "", f"The message that is not JSON did not reach '{DEAD}' ({why}). do_job raises ValueError for "
                                 "it: catch that and call ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False).")
    if (x_death(poison_dead[0].headers) or [{}])[0].get("reason") != "rejected":
        return report(False, "", f"The message that is not JSON reached '{DEAD}' but not as a rejected message: reject it "
                                 "with requeue=False.")
    routes = {job_id: [key if not exchange else f"{key} (through the exchange '{exchange}')"
                       for exchange, key in zip(rows.exchange, rows.routing_key)]
              for job_id, rows in publishes.groupby("job_in_hand")}
    problem = (_route_problem(routes.get(fails_always["job_id"], []), RETRY_ROUTE, "always fails")
               or _route_problem(routes.get(fails_once["job_id"], [])[:1], RETRY_ROUTE[:1], "fails once, then works"))
    if problem:
        return report(False, "", problem)
    parked_jobs = [message for message in parked if message.body != poison]
    if len(parked_jobs) != 1 or json.loads(parked_jobs[0].body) != fails_always:
        return report(False, "", f"'{PARKED}' should hold the one job that always fails, as it was published; it holds "
                                 f"{[message.text[:60] for message in parked_jobs]}: publish the body you received, unchanged.")
    attempts = parked_jobs[0].headers.get("attempts")
    if str(attempts) != "3":
        return report(False, "", f"The parked job's 'attempts' header is {attempts!r}, after 3 tries: set it to the attempt "
                                 "that failed (1 more than the header you received, 0 if none) on every copy you publish.")
    if parked_jobs[0].properties.delivery_mode != 2:
        return report(False, "", "The parked job is transient: a restart would lose it. Publish its copies with "
                                 "delivery_mode=pika.DeliveryMode.Persistent.")
    every_result = [message for messages in results.values() for message in messages]
    unmatched = [message for message in every_result if message.properties.correlation_id not in reply_to]
    if unmatched and not any(message.properties.correlation_id in reply_to for message in every_result):
        return report(False, "", f"The results came with correlation id {unmatched[0].properties.correlation_id!r}, which "
                                 "no job had: copy properties.correlation_id from the job to its result.")
    for job in [*succeed, fails_once]:
        asked = reply_to[job["job_id"]]
        got = [message for message in results[asked] if message.properties.correlation_id == job["job_id"]]
        elsewhere = [queue for queue, messages in results.items() if queue != asked
                     and any(message.properties.correlation_id == job["job_id"] for message in messages)]
        if elsewhere:
            return report(False, "", f"The result of a job that asked for reply_to={asked!r} went to {elsewhere[0]!r}: "
                                     "publish each result to the queue the job names, properties.reply_to.")
        if not got:
            retried = (" This job came back from a retry tier: copy reply_to and correlation_id onto every copy you "
                       "publish there." if job is fails_once else "")
            return report(False, "", f"No result came back for job {job['job_id']!r} on its reply_to queue with its "
                                     "correlation id: after the work, publish the result to properties.reply_to with "
                                     f"correlation_id=properties.correlation_id, then ack.{retried}")
        if got[0].properties.delivery_mode != 2:
            return report(False, "", "The results are transient: a restart would lose them before the producer reads them. "
                                     "Publish them with delivery_mode=pika.DeliveryMode.Persistent.")
        try:
            answer = json.loads(got[0].body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("job_id") != job["job_id"]:
            return report(False, "", f"A result was {got[0].text[:60]!r}: make it JSON with the job's id, "
                                     "json.dumps({'job_id': job['job_id'], 'status': 'done'}).")
    if unmatched:
        return report(False, "", f"A result came with correlation id {unmatched[0].properties.correlation_id!r}, which no "
                                 "job had: send a result only for a job done, with its correlation id.")
    if any(left.values()):
        return report(False, "", f"When the workers stopped, jobs were still waiting: {left}. Acknowledge every delivery, "
                                 "after you published its result or its retry.")
    if "confirms" not in subscribed or not subscribed.confirms.fillna(False).astype(bool).all():
        return report(False, "", "Your worker publishes before it acks, but on a channel without publisher confirms: the "
                                 "result and the ack go to different queues, and a broker that shuts down can take the ack "
                                 "and lose the result still on its way. Call channel.confirm_delivery() once, before "
                                 "basic_consume: then basic_publish returns only once the broker has the message.")
    started = events[events.event == "started"].job_id.value_counts()
    report(True, f"Prefetch 1, manual acks and publisher confirms; each result went to its reply_to with its correlation id; the job that fails "
                 f"once came back from {RETRIES[0]} and worked; the one that always fails went through both retry tiers to "
                 f"{PARKED} after {started.get(fails_always['job_id'], 0)} tries; the message that is not JSON was "
                 f"dead-lettered; every delivery was acknowledged after what it published.", "")
