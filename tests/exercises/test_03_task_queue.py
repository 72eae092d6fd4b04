"""Lesson 03 (a task queue): each exercise's check against wrong answers, on the real broker."""

import json

import pika
import pytest

from helpers import checks
from helpers.lab.workers import WorkerPool, make_jobs, publish_jobs
from exercise_support import EVERY_RUN, consume_ack_before_work, consume_hard_coded_tag, consume_right, fresh, verdict


@pytest.fixture
def tasks(channel):
    fresh(channel, "tasks")
    channel.queue_declare(queue="tasks", durable=True)
    yield channel
    fresh(channel, "tasks")


def publish_jobs_with(channel, jobs, properties=None, times=1):
    for _ in range(times):
        for job in jobs:
            channel.basic_publish(exchange="", routing_key="tasks", body=json.dumps(job), properties=properties)


PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


@pytest.mark.parametrize("properties, times, expected", [
    (PERSISTENT, 0, "❌"), (None, 1, "❌"), (pika.BasicProperties(delivery_mode=1), 1, "❌"), (PERSISTENT, 2, "❌"),
    (PERSISTENT, 1, "✅"),
])
def test_03_exercise_1_jobs_waiting(tasks, capsys, properties, times, expected):
    jobs = make_jobs(6)
    publish_jobs_with(tasks, jobs, properties, times)
    checks.check_jobs_waiting("tasks", jobs)
    assert verdict(capsys) == expected


def send(channel, body, persistent=True):
    channel.basic_publish(exchange="", routing_key="tasks", body=body,
                          properties=PERSISTENT if persistent else pika.BasicProperties(delivery_mode=1))


# Exercise 1's wrong answers, by class: counts, content, persistence, topology.
def a_subset(channel, jobs):
    for job in jobs[:5]:
        send(channel, json.dumps(job))


def one_job_twice_for_another(channel, jobs):
    for job in jobs[:5] + jobs[:1]:
        send(channel, json.dumps(job))


def the_first_job_six_times(channel, jobs):
    for _ in jobs:
        send(channel, json.dumps(jobs[0]))


def jobs_in_reverse_order(channel, jobs):
    for job in reversed(jobs):
        send(channel, json.dumps(job))


def ids_only_bodies(channel, jobs):
    for job in jobs:
        send(channel, json.dumps({"job_id": job["job_id"]}))


def bodies_without_payload(channel, jobs):
    for job in jobs:
        send(channel, json.dumps({key: value for key, value in job.items() if key != "payload"}))


def bodies_with_another_duration(channel, jobs):
    for job in jobs:
        send(channel, json.dumps({**job, "duration": 1}))


def the_job_id_as_text(channel, jobs):
    for job in jobs:
        send(channel, job["job_id"])


def python_repr_not_json(channel, jobs):
    for job in jobs:
        send(channel, str(job))


def the_whole_list_in_one_message(channel, jobs):
    send(channel, json.dumps(jobs))


def only_the_last_job_transient(channel, jobs):
    for job in jobs:
        send(channel, json.dumps(job), persistent=job is not jobs[-1])


def one_extra_copy_of_the_last_job(channel, jobs):
    for job in jobs + jobs[-1:]:
        send(channel, json.dumps(job))


def a_queue_durable_but_exclusive(channel, jobs):
    channel.queue_delete("tasks")
    channel.queue_declare(queue="tasks", durable=True, exclusive=True)  # gone with the learner's connection
    for job in jobs:
        send(channel, json.dumps(job))


def a_queue_durable_but_auto_delete(channel, jobs):
    channel.queue_delete("tasks")
    channel.queue_declare(queue="tasks", durable=True, auto_delete=True)  # gone with its last worker
    for job in jobs:
        send(channel, json.dumps(job))


def a_queue_not_durable(channel, jobs):
    channel.queue_delete("tasks")
    channel.queue_declare(queue="tasks", durable=False)  # RabbitMQ 4.3 refuses it: also a ❌
    for job in jobs:
        send(channel, json.dumps(job))


def to_an_exchange_named_tasks(channel, jobs):
    channel.exchange_declare("tasks", exchange_type="direct", durable=True)
    try:
        for job in jobs:
            channel.basic_publish(exchange="tasks", routing_key="tasks", body=json.dumps(job), properties=PERSISTENT)
    finally:
        channel.exchange_delete("tasks")


def the_right_answer(channel, jobs):
    publish_jobs(channel, "tasks", jobs)


@pytest.mark.parametrize("answer, expected", [
    (a_subset, "❌"), (one_job_twice_for_another, "❌"), (the_first_job_six_times, "❌"), (jobs_in_reverse_order, "❌"),
    (ids_only_bodies, "❌"), (bodies_without_payload, "❌"), (bodies_with_another_duration, "❌"), (the_job_id_as_text, "❌"),
    (python_repr_not_json, "❌"), (the_whole_list_in_one_message, "❌"), (only_the_last_job_transient, "❌"),
    (one_extra_copy_of_the_last_job, "❌"), (a_queue_durable_but_exclusive, "❌"), (a_queue_durable_but_auto_delete, "❌"),
    (a_queue_not_durable, "❌"), (to_an_exchange_named_tasks, "❌"), (the_right_answer, "✅"),
])
def test_03_exercise_1_wrong_answers(tasks, capsys, answer, expected):
    jobs = make_jobs(6)
    try:
        answer(tasks, jobs)
    except pika.exceptions.ChannelClosedByBroker:  # a broker that refuses a non-durable queue
        return
    checks.check_jobs_waiting("tasks", jobs, count=6)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_03_exercise_1_an_extra_copy_checked_right_after_publishing_fails_every_time(tasks, capsys, attempt):
    """The count stands still before the check takes it: a copy published right after the six is
    counted on every run."""
    jobs = make_jobs(6)
    one_extra_copy_of_the_last_job(tasks, jobs)
    checks.check_jobs_waiting("tasks", jobs, count=6)
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("jobs", [make_jobs(3), make_jobs(7), make_jobs(6, durations=[0])])
def test_03_exercise_1_the_given_jobs_replaced(tasks, capsys, jobs):
    """A learner who shrinks or rewrites exercise_jobs, then publishes what is left: the check
    knows the exercise's 6 jobs."""
    publish_jobs(tasks, "tasks", jobs)
    checks.check_jobs_waiting("tasks", jobs, count=6)
    assert verdict(capsys) == "❌"


def test_03_exercise_1_the_jobs_left_empty_and_the_second_try(tasks, capsys):
    checks.check_jobs_waiting("tasks", None)
    assert verdict(capsys) == "❌"
    jobs = make_jobs(6)
    publish_jobs_with(tasks, jobs, None)  # transient: wrong
    checks.check_jobs_waiting("tasks", jobs)
    assert verdict(capsys) == "❌"
    tasks.queue_purge("tasks")  # the given cell
    publish_jobs_with(tasks, jobs, PERSISTENT)
    checks.check_jobs_waiting("tasks", jobs)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("workers, expected", [(1, "❌"), (2, "❌"), (3, "✅")])
def test_03_exercise_2_every_job_done_once_by_three_workers(tasks, capsys, workers, expected):
    jobs = make_jobs(6, durations=[0.2])
    with WorkerPool("tasks", count=workers) as pool:
        publish_jobs_with(tasks, jobs, PERSISTENT)
        pool.wait_for_jobs(len(jobs), timeout=30)
    checks.check_every_job_done_once(jobs, pool, workers=3)
    assert verdict(capsys) == expected
    pool.cleanup()


@pytest.mark.parametrize("pool", [None, "the report", 3])
def test_03_exercise_2_left_empty_or_not_a_pool(capsys, pool):
    checks.check_every_job_done_once(make_jobs(6), pool, workers=3)
    assert verdict(capsys) == "❌"


# Exercise 2's consume functions, as a learner might write them (the lesson's own, consume_right, and two
# mistakes shared with lesson 04 are in exercise_support).
def consume_auto_ack(channel, queue, do_job):
    def on_message(ch, method, properties, body):
        do_job(body)

    channel.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)


def consume_never_acks(channel, queue, do_job):
    channel.basic_qos(prefetch_count=10)

    def on_message(ch, method, properties, body):
        do_job(body)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_acks_the_previous_one(channel, queue, do_job):
    channel.basic_qos(prefetch_count=2)
    previous = []

    def on_message(ch, method, properties, body):
        do_job(body)
        if previous:
            ch.basic_ack(delivery_tag=previous.pop())
        previous.append(method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def a_pool_left_running(channel, jobs):
    pool = WorkerPool("tasks", count=3, consume=consume_right)
    pool.wait_for_jobs(len(jobs), timeout=30)
    return pool


def a_pool_that_does_not_wait(channel, jobs):
    with WorkerPool("tasks", count=3, consume=consume_right) as pool:
        pass
    return pool


def jobs_published_again_by_the_learner(channel, jobs):
    with WorkerPool("tasks", count=3, consume=consume_right) as pool:
        publish_jobs(channel, "tasks", jobs)  # the given cell published them already
        pool.wait_for_jobs(2 * len(jobs), timeout=30)
    return pool


def pool_with(consume):
    def answer(channel, jobs):
        with WorkerPool("tasks", count=3, consume=consume) as pool:
            try:
                pool.wait_for_jobs(len(jobs), timeout=8)
            except Exception:  # noqa: BLE001 - the learner's wait ran out; the check decides
                pass
        return pool
    answer.__name__ = f"pool_with_{consume.__name__}"
    return answer


EXERCISE_2_ANSWERS = [
    a_pool_left_running,
    jobs_published_again_by_the_learner,
    pool_with(consume_auto_ack), pool_with(consume_ack_before_work), pool_with(consume_hard_coded_tag),
    pool_with(consume_never_acks), pool_with(consume_acks_the_previous_one),
]


@pytest.mark.parametrize("answer", EXERCISE_2_ANSWERS, ids=lambda answer: answer.__name__)
def test_03_exercise_2_wrong_answers(tasks, capsys, answer):
    jobs = make_jobs(6, durations=[0.2])
    publish_jobs(tasks, "tasks", jobs)  # the given cell
    pool = answer(tasks, jobs)
    try:
        checks.check_every_job_done_once(jobs, pool, workers=3)
        assert verdict(capsys) == "❌"
    finally:
        pool.stop()
        pool.cleanup()


def test_03_exercise_2_a_pool_on_another_queue(tasks, capsys):
    tasks.queue_declare(queue="tasks.other", durable=True)
    try:
        jobs = make_jobs(6, durations=[0.2])
        publish_jobs(tasks, "tasks.other", jobs)
        with WorkerPool("tasks.other", count=3, consume=consume_right) as pool:
            pool.wait_for_jobs(len(jobs), timeout=30)
        checks.check_every_job_done_once(jobs, pool, workers=3)
        assert verdict(capsys) == "❌"
    finally:
        tasks.queue_delete("tasks.other")


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_03_exercise_2_a_pool_that_does_not_wait_fails_on_every_run(tasks, capsys, attempt):
    """The jobs of the given cell (the guide's durations), and a pool stopped as soon as it has
    started. Its workers subscribe together, so none can do the others' jobs while they start
    (a CI run once saw all six done, and ✅, before the pool was even stopped)."""
    jobs = make_jobs(6)
    publish_jobs(tasks, "tasks", jobs)
    pool = a_pool_that_does_not_wait(tasks, jobs)
    try:
        checks.check_every_job_done_once(jobs, pool, workers=3)
        assert verdict(capsys) == "❌"
    finally:
        pool.cleanup()


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_03_exercise_2_the_right_answer_and_a_second_try(tasks, capsys, attempt):
    """The given cell publishes the jobs before the pool starts: the verdict must not depend on
    whether every worker got one, nor the auto-ack answer's on one worker taking them all (the
    old check failed it by that luck); after it, the given cell again and the solution pass."""
    jobs = make_jobs(6)
    publish_jobs(tasks, "tasks", jobs)
    pool = pool_with(consume_auto_ack)(tasks, jobs)
    checks.check_every_job_done_once(jobs, pool, workers=3)
    assert verdict(capsys) == "❌"
    fresh(tasks, "tasks")  # the given cell again
    tasks.queue_declare(queue="tasks", durable=True)
    publish_jobs(tasks, "tasks", jobs)
    with WorkerPool("tasks", count=3, consume=consume_right) as pool:
        pool.wait_for_jobs(len(jobs), timeout=30)
    checks.check_every_job_done_once(jobs, pool, workers=3)
    assert verdict(capsys) == "✅"
    pool.cleanup()
