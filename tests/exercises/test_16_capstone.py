"""Lesson 16 (capstone): each step's check against the wrong answers a learner who half-understood
would write, on the real broker; the course's version of each step (the lesson's solution) passes.

Step 3's wrong workers are lesson 03's worker, one that requeues what fails, and the course's
worker with a line or two changed (``changed``): each is a function with a source file of its
own, since the check sends a function's source to real worker processes.
"""

import importlib.util
import inspect
import json
import sys
import tempfile
from pathlib import Path

import pika
import pytest

from helpers import checks
from helpers.amqp import connect
from helpers.lab import capstone
from helpers.lab.capstone import DEAD, DEAD_LETTERS, EXCHANGE, PARKED, QUEUES, RESULTS, WORK
from helpers.lab.reports import reports_folder
from exercise_support import consume_right, fresh, said, verdict


@pytest.fixture
def clean(channel):
    """No pipeline left from another test: the exercises' given cells delete it too."""
    fresh(channel, *QUEUES, exchanges=[EXCHANGE, DEAD_LETTERS])
    yield channel
    fresh(channel, *QUEUES, exchanges=[EXCHANGE, DEAD_LETTERS])


# -- step 1: publish_job --------------------------------------------------------------------------
def props(**fields):
    return pika.BasicProperties(**{"delivery_mode": 2, "content_type": "application/json", **fields})


def publish_left_empty(channel, job, reply_to):
    ...


def publish_to_default_exchange(channel, job, reply_to):
    channel.basic_publish("", f"jobs.{job['task']}", json.dumps(job),
                          props(correlation_id=job["job_id"], reply_to=reply_to))


def publish_with_task_as_key(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, job["task"], json.dumps(job), props(correlation_id=job["job_id"], reply_to=reply_to))


def publish_with_the_sample_key(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, "jobs.resize-image", json.dumps(job), props(correlation_id=job["job_id"], reply_to=reply_to))


def publish_python_text(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, f"jobs.{job['task']}", str(job), props(correlation_id=job["job_id"], reply_to=reply_to))


def publish_a_typed_job(channel, job, reply_to):
    typed = {"job_id": "job-001", "task": job["task"], "payload": {"image_id": 1}}
    channel.basic_publish(EXCHANGE, f"jobs.{job['task']}", json.dumps(typed), props(correlation_id=job["job_id"], reply_to=reply_to))


def publish_transient(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, f"jobs.{job['task']}", json.dumps(job),
                          props(delivery_mode=1, correlation_id=job["job_id"], reply_to=reply_to))


def publish_without_content_type(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, f"jobs.{job['task']}", json.dumps(job),
                          pika.BasicProperties(delivery_mode=2, correlation_id=job["job_id"], reply_to=reply_to))


def publish_without_correlation_id(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, f"jobs.{job['task']}", json.dumps(job), props(reply_to=reply_to))


def publish_with_the_sample_reply_queue(channel, job, reply_to):
    channel.basic_publish(EXCHANGE, f"jobs.{job['task']}", json.dumps(job),
                          props(correlation_id=job["job_id"], reply_to=RESULTS))


def publish_on_a_channel_of_its_own(channel, job, reply_to):
    with connect(name="pytest-own-channel") as connection:
        capstone.publish_job(connection.channel(), job, reply_to)


def publish_twice(channel, job, reply_to):
    for _ in range(2):
        capstone.publish_job(channel, job, reply_to)


@pytest.mark.parametrize("publish_job", [
    publish_left_empty, publish_to_default_exchange, publish_with_task_as_key, publish_with_the_sample_key,
    publish_python_text, publish_a_typed_job, publish_transient, publish_without_content_type,
    publish_without_correlation_id, publish_with_the_sample_reply_queue, publish_twice, publish_on_a_channel_of_its_own,
    None, "pipeline.jobs",
])
def test_16_exercise_1_wrong_publishers(capsys, clean, publish_job):
    clean.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    checks.check_publish_job(publish_job)
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("declare, expected", [
    (None, "There is no exchange"), ("direct", "durable topic exchange"), ("fanout", "durable topic exchange"),
])
def test_16_exercise_1_the_exchange_is_a_durable_topic(capsys, clean, declare, expected):
    if declare:
        clean.exchange_declare(EXCHANGE, exchange_type=declare, durable=True)
    checks.check_publish_job(capstone.publish_job)
    assert expected in said(capsys)


def test_16_exercise_1_a_non_durable_exchange_fails(capsys, clean):
    clean.exchange_declare(EXCHANGE, exchange_type="topic", durable=False)
    checks.check_publish_job(capstone.publish_job)
    assert "non-durable topic" in said(capsys)


def test_16_exercise_1_wrong_then_right(capsys, clean):
    clean.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    checks.check_publish_job(publish_with_the_sample_key)
    assert verdict(capsys) == "❌"
    checks.check_publish_job(capstone.publish_job)
    assert verdict(capsys) == "✅"


# -- step 2: declare_pipeline ---------------------------------------------------------------------
def declaring(**changes):
    """The course's declare_pipeline with one thing changed, as a learner might have it: ``work_key``,
    ``work_type``, ``dlx_type``, ``work_arguments``, ``retry_ttls``, ``retry_target`` (dead-letter
    exchange and routing key, None for none), ``parked_arguments``, ``results_exclusive``,
    ``work_durable``, ``work_queue_type``, ``extra_binding`` (queue, exchange, key)."""
    option = {"work_key": "jobs.*", "work_type": "topic", "dlx_type": "fanout",
              "work_arguments": {"x-dead-letter-exchange": DEAD_LETTERS}, "retry_ttls": (500, 1000),
              "retry_target": ("", WORK), "parked_arguments": None, "results_exclusive": False, "work_durable": True,
              "work_queue_type": None, "extra_binding": None, **changes}

    def declare_pipeline(channel):
        channel.exchange_declare(EXCHANGE, exchange_type=option["work_type"], durable=True)
        channel.exchange_declare(DEAD_LETTERS, exchange_type=option["dlx_type"], durable=True)
        channel.queue_declare(DEAD, durable=True)
        channel.queue_bind(DEAD, DEAD_LETTERS, routing_key="")
        arguments = dict(option["work_arguments"])
        if option["work_queue_type"]:
            arguments["x-queue-type"] = option["work_queue_type"]
        durable = option["work_durable"]
        channel.queue_declare(WORK, durable=durable, exclusive=not durable, arguments=arguments)
        channel.queue_bind(WORK, EXCHANGE, routing_key=option["work_key"])
        exchange, key = option["retry_target"]
        target = {} if exchange is None else {"x-dead-letter-exchange": exchange}
        if key is not None:
            target["x-dead-letter-routing-key"] = key
        for number, ttl in enumerate(option["retry_ttls"], 1):
            channel.queue_declare(f"pipeline.retry.{number}", durable=True, arguments={"x-message-ttl": ttl, **target})
        channel.queue_declare(PARKED, durable=True, arguments=option["parked_arguments"])
        exclusive = option["results_exclusive"]
        channel.queue_declare(RESULTS, durable=not exclusive, exclusive=exclusive)
        if option["extra_binding"]:
            queue, exchange, key = option["extra_binding"]
            channel.queue_bind(queue, exchange, routing_key=key)

    declare_pipeline.__name__ = "declaring " + ", ".join(f"{key}={value!r}" for key, value in changes.items())
    return declare_pipeline


def declare_left_empty(channel):
    ...


def declare_with_a_typo(channel):
    capstone.declare_pipeline(chanel)  # noqa: F821 - the typo is the point


calls = []


def declare_differently_the_second_time(channel):
    calls.append(1)
    capstone.declare_pipeline(channel)
    channel.queue_declare(PARKED, durable=True, arguments={"x-max-length": 1000} if len(calls) % 2 == 0 else None)


@pytest.mark.parametrize("declare_pipeline", [
    declare_left_empty, None,
    declaring(work_key="#"), declaring(work_key="jobs.#"), declaring(work_key="*.*"),
    declaring(work_key="jobs.resize-image"), declaring(work_type="direct"), declaring(dlx_type="direct"),
    declaring(work_arguments={}), declaring(work_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD}),
    declaring(retry_ttls=(1000, 500)), declaring(retry_ttls=(500,)), declaring(retry_ttls=(0.5, 1.0)),
    declaring(retry_target=(DEAD_LETTERS, None)), declaring(retry_target=(None, None)),
    declaring(retry_target=(EXCHANGE, None)),
    declaring(parked_arguments={"x-message-ttl": 60000}), declaring(parked_arguments={"x-dead-letter-exchange": ""}),
    declaring(results_exclusive=True), declaring(work_durable=False), declare_differently_the_second_time,
    declaring(work_arguments={"x-dead-letter-exchange": DEAD_LETTERS, "x-message-ttl": 60000}),
    declaring(extra_binding=("pipeline.retry.1", EXCHANGE, "jobs.*")), declaring(extra_binding=(WORK, DEAD_LETTERS, "")),
    declaring(extra_binding=(DEAD, EXCHANGE, "#")), declare_with_a_typo,
], ids=lambda value: getattr(value, "__name__", repr(value)))
def test_16_exercise_2_wrong_pipelines(capsys, clean, declare_pipeline):
    checks.check_pipeline_topology(declare_pipeline)
    assert verdict(capsys) == "❌"


def test_16_exercise_2_each_wrong_kind_is_named(capsys, clean):
    cases = [
        (declaring(work_key="jobs.#"), "'pipeline.work' got: jobs.resize-image, jobs.transcode-video, jobs, jobs.resize-image.large"),
        (declaring(work_key="jobs.resize-image"), "got: jobs.resize-image. It should"),
        (declaring(retry_ttls=(1000, 500)), "'pipeline.retry.1' has x-message-ttl 1000"),
        (declaring(retry_target=(DEAD_LETTERS, None)), "did not come back to 'pipeline.work' (it is in pipeline.dead)"),
        (declaring(work_arguments={}), "'pipeline.work' has no dead-letter exchange"),
        (declaring(work_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD}),
         "rejects goes to the exchange ''"),
        (declare_differently_the_second_time, "The second call of declare_pipeline failed (the first worked"),
        (declaring(retry_ttls=(0.5, 1.0)), "an integer of milliseconds"),
        (declare_with_a_typo, "declare_pipeline raised NameError"),
        (declaring(work_arguments={"x-dead-letter-exchange": DEAD_LETTERS, "x-message-ttl": 60000}),
         "'pipeline.work' has x-message-ttl"),
        (declaring(extra_binding=("pipeline.retry.1", EXCHANGE, "jobs.*")), "also routes jobs to pipeline.retry.1"),
        (declaring(extra_binding=(WORK, DEAD_LETTERS, "")), "'pipeline.work' is also bound to pipeline.dlx"),
    ]
    for declare_pipeline, expected in cases:
        checks.check_pipeline_topology(declare_pipeline)
        assert expected in said(capsys), declare_pipeline


@pytest.mark.parametrize("declare_pipeline", [
    capstone.declare_pipeline,
    declaring(work_queue_type="quorum"),   # a quorum work queue is as good
], ids=["solution", "quorum work queue"])
def test_16_exercise_2_right_pipelines(capsys, clean, declare_pipeline):
    checks.check_pipeline_topology(declaring(work_key="#"))
    assert verdict(capsys) == "❌"
    checks.check_pipeline_topology(declare_pipeline)   # a second try starts from an empty broker
    assert verdict(capsys) == "✅"


# -- step 3: the worker ---------------------------------------------------------------------------
def consume_left_empty(channel, queue, do_job):
    ...


def consume_requeue_failures(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            job = do_job(body)
        except Exception:
            ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
            return
        ch.basic_publish("", properties.reply_to, json.dumps({"job_id": job["job_id"]}),
                         pika.BasicProperties(delivery_mode=2, correlation_id=properties.correlation_id))
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def changed(name, *edits):
    """The course's worker with a line or two changed, ``(old, new)`` each: a learner's near miss.
    It is written to a file of its own, as the check sends a function's source to the workers."""
    source = inspect.getsource(capstone.consume)
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=reports_folder())) / f"{name}.py"
    path.write_text("import json\nimport pika\nfrom helpers.lab.worker import JobFailed\n\n\n"
                    + source.replace("def consume(", f"def {name}("))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


TO_RETRY_TIER = 'target = f"pipeline.retry.{attempt}" if attempt <= 2 else "pipeline.parked"'
PUBLISH_RETRY = 'ch.basic_publish(exchange="", routing_key=target, body=body, properties=retry)'
ACK = "ch.basic_ack(delivery_tag=method.delivery_tag)"
REJECT = "ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)"
PERSISTENT_RESULT = "result = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent,"
COPY_ROUTE = "correlation_id=properties.correlation_id, reply_to=properties.reply_to,"
PERSISTENT_RETRY = "retry = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent,"
WRONG_WORKERS = [
    consume_left_empty, None, consume_right, consume_requeue_failures,   # consume_right: lesson 03's worker
    changed("consume_prefetch_0", ("prefetch_count=1", "prefetch_count=0")),
    changed("consume_prefetch_10", ("prefetch_count=1", "prefetch_count=10")),
    changed("consume_auto_ack", ("on_message_callback=on_message)", "on_message_callback=on_message, auto_ack=True)")),
    changed("consume_retry_at_once", (TO_RETRY_TIER, 'target = "pipeline.work" if attempt <= 2 else "pipeline.parked"')),
    changed("consume_park_at_once", (TO_RETRY_TIER, 'target = "pipeline.parked"')),
    changed("consume_attempts_never_grow", ('attempt = int(headers.get("attempts", 0)) + 1', "attempt = 1")),
    changed("consume_retry_through_the_jobs_exchange", (PUBLISH_RETRY, PUBLISH_RETRY.replace('exchange=""', 'exchange="pipeline.jobs"'))),
    changed("consume_ack_before_publishing", (f"{PUBLISH_RETRY}\n            {ACK}", f"{ACK}\n            {PUBLISH_RETRY}")),
    changed("consume_changed_body", ("body=body, properties=retry", "body=json.dumps({'retry': True}), properties=retry")),
    changed("consume_transient_retry", (PERSISTENT_RETRY, PERSISTENT_RETRY.replace("Persistent", "Transient"))),
    changed("consume_no_result", ('ch.basic_publish(exchange="", routing_key=properties.reply_to,',
                                  'dict(exchange="", routing_key=properties.reply_to,')),
    changed("consume_result_without_correlation",
            ('content_type="application/json",\n                                      correlation_id=properties.correlation_id)',
             'content_type="application/json")')),
    changed("consume_result_to_the_sample_queue", ("routing_key=properties.reply_to,", 'routing_key="pipeline.results",')),
    changed("consume_transient_result", (PERSISTENT_RESULT, PERSISTENT_RESULT.replace("Persistent", "Transient"))),
    changed("consume_requeue_poison", (REJECT, "ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)")),
    changed("consume_drop_poison", (REJECT, ACK)),
    changed("consume_park_poison", ("except ValueError:", "except ArithmeticError:")),
    changed("consume_no_ack_after_result", (f"properties=result)\n        {ACK}", "properties=result)")),
    changed("consume_retry_without_reply_to", (COPY_ROUTE, "correlation_id=properties.correlation_id,")),
    changed("consume_retry_without_correlation_id", (COPY_ROUTE, "reply_to=properties.reply_to,")),
    changed("consume_with_start_consuming", ("on_message_callback=on_message)",
                                             "on_message_callback=on_message)\n    channel.start_consuming()")),
    changed("consume_with_a_notebook_name", ("routing_key=properties.reply_to,", "routing_key=RESULTS,")),
    changed("consume_without_confirms", ("    channel.confirm_delivery()", "    pass")),
]


# What the check must say to each: the mistake it names.
WHY = {
    "consume_left_empty": "could not run your function", "None": "should be your worker function",
    "consume_right": "JobFailed", "consume_requeue_failures": "answered a failed job with basic_nack",
    "consume_prefetch_0": "prefetch of no limit (0)", "consume_prefetch_10": "prefetch of 10", "consume_auto_ack": "auto_ack",
    "consume_retry_at_once": "published to: pipeline.work → pipeline.work → pipeline.parked",
    "consume_park_at_once": "published to: pipeline.parked;",
    "consume_attempts_never_grow": "published to: pipeline.retry.1 → pipeline.retry.1 → pipeline.retry.1",
    "consume_retry_through_the_jobs_exchange": "pipeline.retry.1 (through the exchange 'pipeline.jobs')",
    "consume_ack_before_publishing": "and only then published", "consume_changed_body": "error in your function",
    "consume_transient_retry": "parked job is transient", "consume_no_result": "No result came back",
    "consume_result_without_correlation": "correlation id None", "consume_result_to_the_sample_queue": "went to 'pipeline.results'",
    "consume_transient_result": "results are transient", "consume_requeue_poison": "delivered again and again",
    "consume_drop_poison": "acknowledged and is gone", "consume_park_poison": "catch it and reject",
    "consume_no_ack_after_result": "never acknowledged it", "consume_retry_without_reply_to": "lost its reply_to",
    "consume_retry_without_correlation_id": "came back from a retry tier", "consume_with_start_consuming": "start_consuming",
    "consume_with_a_notebook_name": "write the queue names out",
    "consume_without_confirms": "on a channel without publisher confirms",
}


@pytest.mark.parametrize("consume", WRONG_WORKERS, ids=lambda value: getattr(value, "__name__", repr(value)))
def test_16_exercise_3_wrong_workers(capsys, clean, consume):
    checks.check_pipeline_worker(consume)
    line = said(capsys)
    assert line.startswith("❌") and WHY[getattr(consume, "__name__", repr(consume))] in line, line


def test_16_exercise_3_solution_after_a_wrong_try(capsys, clean):
    retry_at_once = next(worker for worker in WRONG_WORKERS if getattr(worker, "__name__", "") == "consume_retry_at_once")
    checks.check_pipeline_worker(retry_at_once)
    assert "its failures should go to pipeline.retry.1 → pipeline.retry.2 → pipeline.parked" in said(capsys)
    checks.check_pipeline_worker(capstone.consume)
    assert verdict(capsys) == "✅"


# -- the drill runs what got a ✅ -------------------------------------------------------------------
def test_the_drill_runs_a_step_of_yours_only_once_its_check_said_so(capsys, clean):
    clean.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    checks.check_publish_job(publish_with_task_as_key)
    verdict(capsys)
    steps = capstone.choose_steps(publish_with_task_as_key, declare_left_empty, consume_left_empty)
    assert steps.publish_job is capstone.publish_job and steps.consume is capstone.consume
    mine = publish_transient   # a function of the learner's, different from the course's, that passes...
    checks.check_publish_job(capstone.publish_job)
    verdict(capsys)
    steps = capstone.choose_steps(capstone.publish_job, declare_left_empty, consume_left_empty)
    assert list(steps.table.runs.str.startswith("yours")) == [True, False, False]
    steps = capstone.choose_steps(mine, declare_left_empty, consume_left_empty)   # ...is not that function
    assert list(steps.table.runs.str.startswith("yours")) == [False, False, False]
