"""Lesson 16's pipeline: its names, the course's version of each step, and the drill's accounting.

The learner builds the pipeline in three steps (lesson 16's exercises)::

    publish_job(channel, job, reply_to)   a producer: jobs to the topic exchange pipeline.jobs
    declare_pipeline(channel)             the exchanges and queues: work, retry tiers, parking lot,
                                          dead letters, results
    consume(channel, queue, do_job)       a worker: prefetch 1, results by reply_to, retries,
                                          the parking lot, an ack after all that

The functions below are the course's version of each step: the fault drill at the end of the
lesson runs the learner's step where its check said ✅, and the course's where it did not yet
(``choose_steps`` says which), so the drill runs whatever the learner has done so far.

Introduced in lesson 16.
"""

import json
from dataclasses import dataclass

import pandas as pd
import pika

from .worker import JobFailed  # noqa: F401 - consume's name; a worker process has its own
from .workers import OPERATIONS

EXCHANGE = "pipeline.jobs"          # topic: routing key jobs.<task>
WORK = "pipeline.work"              # bound with jobs.*; what it rejects goes to DEAD_LETTERS
BINDING_KEY = "jobs.*"
RETRY_DELAYS = {"pipeline.retry.1": 500, "pipeline.retry.2": 1000}   # TTL in ms; expired -> WORK
PARKED = "pipeline.parked"          # after the last retry: waits for a person
DEAD_LETTERS = "pipeline.dlx"       # fanout: what WORK rejects (a job that can never work)
DEAD = "pipeline.dead"
RESULTS = "pipeline.results"        # durable: results survive the producer's connection and a restart
QUEUES = [WORK, *RETRY_DELAYS, PARKED, DEAD, RESULTS]
EXCHANGES = [EXCHANGE, DEAD_LETTERS]


def publish_job(channel, job, reply_to):
    """Step 1, the course's version: one job to the topic exchange, as persistent JSON."""
    properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                                      correlation_id=job["job_id"], reply_to=reply_to)
    channel.basic_publish(exchange=EXCHANGE, routing_key=f"jobs.{job['task']}", body=json.dumps(job),
                          properties=properties)


def declare_pipeline(channel):
    """Step 2, the course's version: every exchange, queue and binding of the pipeline."""
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_LETTERS, exchange_type="fanout", durable=True)
    channel.queue_declare(DEAD, durable=True)
    channel.queue_bind(DEAD, DEAD_LETTERS)
    channel.queue_declare(WORK, durable=True, arguments={"x-dead-letter-exchange": DEAD_LETTERS})
    channel.queue_bind(WORK, EXCHANGE, routing_key=BINDING_KEY)
    for name, milliseconds in RETRY_DELAYS.items():
        channel.queue_declare(name, durable=True, arguments={
            "x-message-ttl": milliseconds, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": WORK})
    channel.queue_declare(PARKED, durable=True)
    channel.queue_declare(RESULTS, durable=True)


def consume(channel, queue, do_job):
    """Step 3, the course's version: a worker with prefetch 1 that sends each result to the job's
    reply_to, retries a failed job through the retry tiers and then parks it, dead-letters a job
    that is not JSON, and acknowledges each delivery only after the broker has confirmed all that."""
    channel.basic_qos(prefetch_count=1)
    channel.confirm_delivery()  # each basic_publish returns once the broker has the message: only then the ack

    def on_message(ch, method, properties, body):
        headers = dict(properties.headers or {})
        attempt = int(headers.get("attempts", 0)) + 1
        try:
            job = do_job(body)
        except ValueError:  # not a JSON job: it can never work, so the broker dead-letters it
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
            return
        except JobFailed as failure:  # it may work later: the next retry tier, or the parking lot
            target = f"pipeline.retry.{attempt}" if attempt <= 2 else "pipeline.parked"
            retry = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type=properties.content_type,
                                         correlation_id=properties.correlation_id, reply_to=properties.reply_to,
                                         headers={**headers, "attempts": attempt, "error": str(failure)})
            ch.basic_publish(exchange="", routing_key=target, body=body, properties=retry)
            ch.basic_ack(delivery_tag=method.delivery_tag)
            return
        result = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                                      correlation_id=properties.correlation_id)
        ch.basic_publish(exchange="", routing_key=properties.reply_to, body=json.dumps({"job_id": job["job_id"], "status": "done"}),
                         properties=result)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


@dataclass
class Steps:
    """The three steps the drill runs, each the learner's or the course's."""

    publish_job: object
    declare_pipeline: object
    consume: object
    table: pd.DataFrame

    def _repr_html_(self):
        return self.table._repr_html_()

    def __repr__(self):
        return self.table.to_string(index=False)


STEPS = [("1. producer", "publish_job", "check_publish_job"),
         ("2. queues and exchanges", "declare_pipeline", "check_pipeline_topology"),
         ("3. worker", "consume", "check_pipeline_worker")]


def choose_steps(publish_job, declare_pipeline, consume):
    """For each step, the learner's function if its check's last verdict on that very function was
    ✅, else the course's version (above). Returns a Steps, shown as a table of which ran."""
    from ..checks.report import passed_with

    yours = {"publish_job": publish_job, "declare_pipeline": declare_pipeline, "consume": consume}
    course = globals()
    chosen, rows = {}, []
    for step, name, check_name in STEPS:
        mine = passed_with(check_name, yours[name])
        chosen[name] = yours[name] if mine else course[name]
        rows.append({"step": step, "function": name,
                     "runs": "yours (its check said ✅)" if mine else "the course's (yours has no ✅ yet)"})
    return Steps(**chosen, table=pd.DataFrame(rows))


def pipeline_jobs(count, fail_once_every=7, always_failing=("job-013",)):
    """``count`` jobs of the guide's three operations (ids job-001...): every ``fail_once_every``-th
    fails its first try (a failure that passes), those in ``always_failing`` fail every try."""
    jobs = []
    for number in range(1, count + 1):
        task, payload, duration = OPERATIONS[(number - 1) % len(OPERATIONS)]
        job = {"job_id": f"job-{number:03d}", "task": task, "payload": payload, "duration": duration}
        if job["job_id"] in always_failing:
            job["fail"] = True
        elif fail_once_every and number % fail_once_every == 0:
            job["fail_times"] = 1
        jobs.append(job)
    return jobs


def jobs_table(jobs):
    """The jobs as a table: id, task, payload, seconds of work, and which of them fail."""
    return pd.DataFrame([{"job_id": job["job_id"], "task": job["task"], "payload": json.dumps(job["payload"]),
                          "seconds": job["duration"],
                          "fails": "every try" if job.get("fail") else "its first try" if job.get("fail_times") else ""}
                         for job in jobs])


def account(jobs, results, parked, dead, poison=0):
    """Every job published, by where it ended: a result (counted once however often it came), the
    parking lot, the dead letters. ``poison``: messages published that were not jobs (they can only
    end in the dead letters). Returns a one-column table; lost = published - accounted."""
    ids = {job["job_id"] for job in jobs}
    answered = {result.get("job_id") for result in results} & ids
    parked_ids = {message.get("job_id") for message in parked} & ids
    rows = {
        "jobs published (and confirmed)": len(jobs),
        "messages published that were not jobs": poison,
        "jobs with a result": len(answered),
        "jobs in the parking lot": len(parked_ids),
        "messages dead-lettered": len(dead),
    }
    rows["lost"] = len(jobs) + poison - len(answered) - len(parked_ids) - len(dead)
    return pd.Series(rows, name="count").to_frame()
