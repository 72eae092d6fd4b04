"""Celery workers started by the course (helpers/lab/celery_workers.py), against the real broker:
the guide's three jobs as Celery tasks, what Celery's settings do when a worker's pool process
dies in the middle of a job, Flower watching them, and that nothing is left running.
"""

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers.config import settings
from helpers.errors import CourseError
from helpers.lab.celery_workers import CeleryWorker, Flower, crash_drill, outcome, tasks_module
from helpers.ops.processes import is_alive
from helpers.waiting import wait_until

RELIABLE = {"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1}


def test_a_worker_does_the_guides_three_jobs_and_leaves_nothing_running(queue_name):
    tasks = tasks_module()
    with CeleryWorker("worker-1", queues=[queue_name]) as worker:
        pool = worker.pool_pids()
        assert len(pool) == 1
        sent = [tasks.resize_image.apply_async(("photos/cat.jpg", "800x600"), queue=queue_name),
                tasks.send_email.apply_async(("ada@example.com", "Welcome!"), queue=queue_name),
                tasks.generate_report.apply_async(("sales-2026-11",), queue=queue_name)]
        records = [result.get(timeout=20) for result in sent]
    assert [record["task"] for record in records] == ["resize-image", "send-email", "generate-report"]
    assert {record["worker"] for record in records} == {"worker-1@course"}
    assert {record["pid"] for record in records} == set(pool)
    assert all(record["ended"] - record["started"] >= 0.2 for record in records)   # each slept its duration
    assert "celery -A scripts.celery_tasks worker --hostname worker-1@course" in worker.command_line
    assert not worker.alive()
    assert not any(is_alive(pid) for pid in [worker.pid, *pool])


def test_with_celerys_defaults_the_job_of_a_killed_pool_process_is_lost(queue_name):
    drill = crash_drill({}, queue=queue_name)
    # The message was acknowledged when the work started: the job failed and is gone.
    assert drill["outcomes"] == ["failed: WorkerLostError", "done", "done"]
    assert drill["times started"] == [1, 1, 1]
    assert drill["still queued"] == 0


def test_acks_late_alone_still_loses_the_job_of_a_killed_pool_process(queue_name):
    drill = crash_drill({"task_acks_late": True}, queue=queue_name)
    # Celery acknowledges the message of a job whose process was lost, unless told to reject it.
    assert drill["outcomes"] == ["failed: WorkerLostError", "done", "done"]
    assert drill["times started"] == [1, 1, 1]
    assert drill["still queued"] == 0


def test_acks_late_with_reject_on_worker_lost_does_every_job(queue_name):
    drill = crash_drill(RELIABLE, queue=queue_name)
    assert drill["outcomes"] == ["done", "done", "done"]
    assert drill["times started"] == [2, 1, 1]   # the first job again, from the start: at least once
    assert drill["still queued"] == 0
    assert not is_alive(drill["killed pid"])


def test_a_worker_started_again_under_its_name_replaces_the_one_left_running(queue_name):
    left_running = CeleryWorker("again", queues=[queue_name])   # a cell interrupted before its stop()
    with CeleryWorker("again", queues=[queue_name]) as again:
        assert not left_running.alive() and again.alive()
    assert not again.alive()


def test_a_worker_that_cannot_start_says_why_in_one_line():
    with pytest.raises(CourseError, match="stopped at start"):
        CeleryWorker("broken", settings={"worker_pool": "no-such-pool"}, ready_timeout=30)


def test_a_job_nobody_takes_has_no_answer_within_its_limit(queue_name):
    tasks = tasks_module()
    result = tasks.send_email.apply_async(("ada@example.com", "Welcome!"), queue=queue_name)
    assert outcome(result, timeout=0.5) == "no answer"
    assert tasks.app.conf.broker_url == settings().amqp_url   # the course's broker, from its settings


def test_flower_sees_each_task_a_worker_did_and_stops_with_its_block(queue_name):
    tasks = tasks_module()
    with Flower() as flower, CeleryWorker("watched", queues=[queue_name], events=True):
        sent = [tasks.send_email.apply_async((f"user-{n}@example.com", "Hi"), queue=queue_name) for n in range(3)]
        for job in sent:
            job.get(timeout=20)

        def all_succeeded():
            seen = flower.tasks()
            return set(seen["uuid"]) == {job.id for job in sent} and (seen["state"] == "SUCCESS").all()

        wait_until(all_succeeded, "Flower to see the three tasks succeed")
        assert set(flower.tasks()["worker"]) == {"watched@course"}
    assert not flower.alive() and not is_alive(flower.process.pid)


def test_flower_on_a_port_in_use_says_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CourseError, match=f"Port {port} is in use"):
            Flower(port=port)


def _gone_within(pids, seconds):
    """Whether every one of ``pids`` has ended (or is a zombie) within ``seconds``."""
    try:
        wait_until(lambda: not any(is_alive(pid) for pid in pids), "the processes to end", timeout=seconds)
    except CourseError:
        return False
    return True


def _lesson_kernel(queue_name, then):
    """A process in the place of a lesson's kernel: it starts a worker and Flower, prints their
    pids (the pool's too), and then does ``then`` (Python source) inside their with-block."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from helpers.lab.celery_workers import CeleryWorker, Flower
        with Flower() as flower, CeleryWorker("kernel", queues=[{queue_name!r}]) as worker:
            print(*[worker.pid, *worker.pool_pids(), flower.process.pid], flush=True)
            {then}
    """)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])


def test_no_celery_process_outlives_a_kernel_that_died(queue_name):
    kernel = _lesson_kernel(queue_name, "time.sleep(60)")
    pids = [int(pid) for pid in kernel.stdout.readline().split()]
    assert len(pids) == 3
    kernel.kill()   # SIGKILL: the with-block never ends; the watchers stop what it started
    kernel.wait(timeout=5)
    assert _gone_within(pids, 15), [pid for pid in pids if is_alive(pid)]


def test_an_interrupted_cell_stops_its_worker_and_flower(queue_name):
    kernel = _lesson_kernel(queue_name, "time.sleep(60)")
    pids = [int(pid) for pid in kernel.stdout.readline().split()]
    assert len(pids) == 3
    kernel.send_signal(signal.SIGINT)   # the lab's interrupt button: KeyboardInterrupt in the cell
    # The with-block stops both (each waits up to 10 s for SIGTERM, then kills): the limits are
    # far above that, so only a process left running fails the test, not a slow machine.
    kernel.wait(timeout=60)
    assert _gone_within(pids, 15), [pid for pid in pids if is_alive(pid)]
