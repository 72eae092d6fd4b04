"""Lesson 03 (a task queue): each exercise's check against wrong answers, on the real broker."""

import json

import pika
import pytest

from helpers import checks
from helpers.lab.workers import WorkerPool, make_jobs
from exercise_support import verdict, fresh


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
