"""The worker processes a pool starts run the lesson's own consume function, report "consuming"
only once the broker confirmed the subscription, explain a broken function in one line, and never
outlive the lesson's kernel. Against the real broker."""

import subprocess
import sys
import textwrap
import time

import pytest

from helpers.errors import CourseError
from helpers.management import management_api
from helpers.lab.workers import WorkerPool, make_jobs, publish_jobs


def consume_two_at_a_time(channel, queue, do_job):
    channel.basic_qos(prefetch_count=2)

    def on_message(ch, method, properties, body):
        job = do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)
        assert job["job_id"]

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_nothing(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)


def consume_with_a_name_from_the_notebook(channel, queue, do_job):
    channel.basic_qos(prefetch_count=PREFETCH)  # noqa: F821 - the point: a name the worker does not have


def reject_failures(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821 - given to every consume function
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def test_a_pool_runs_the_lessons_consume_function(channel, queue_name):
    channel.queue_declare(queue_name, durable=True)
    jobs = make_jobs(6, durations=[0.05])
    with WorkerPool(queue_name, count=2, consume=consume_two_at_a_time) as pool:
        assert channel.queue_declare(queue_name, passive=True).method.consumer_count == 2  # subscribed before "consuming"
        consumers, stop_at = [], time.monotonic() + 10
        while len(consumers) < 2 and time.monotonic() < stop_at:  # the management API lags a second behind
            consumers = [c for c in management_api().get("consumers") if c.get("queue", {}).get("name") == queue_name]
            time.sleep(0.2)
        publish_jobs(channel, queue_name, jobs)
        pool.wait_for_jobs(6, timeout=20)
        events = pool.events()
    consuming = events[events.event == "consuming"]
    assert len(consuming) == 2 and set(consuming.prefetch) == {2}
    assert sorted(pool.jobs_done().job_id) == [job["job_id"] for job in jobs]
    assert [c.get("prefetch_count") for c in consumers] == [2, 2]


def test_a_failed_job_reaches_the_lessons_callback_as_job_failed(channel, queue_name):
    channel.queue_declare(queue_name, durable=True)
    jobs = [{"job_id": "job-ok", "task": "send-email", "duration": 0}, {"job_id": "job-bad", "task": "x", "duration": 0, "fail": True}]
    with WorkerPool(queue_name, consume=reject_failures) as pool:
        publish_jobs(channel, queue_name, jobs)
        pool.wait_for_jobs(1, timeout=10)
        stop_at = time.monotonic() + 10
        while "failed" not in pool.events().event.tolist() and time.monotonic() < stop_at:
            time.sleep(0.05)
    assert pool.report().event.tolist().count("failed") == 1
    assert channel.queue_declare(queue_name, passive=True).method.message_count == 0  # rejected, not requeued


@pytest.mark.parametrize("function, says", [
    (consume_nothing, "without calling channel.basic_consume"),
    (consume_with_a_name_from_the_notebook, "NameError: name 'PREFETCH' is not defined"),
])
def test_a_broken_consume_function_is_explained_in_one_line(channel, queue_name, function, says):
    channel.queue_declare(queue_name, durable=True)
    with pytest.raises(CourseError, match=says):
        WorkerPool(queue_name, consume=function)


def test_a_worker_stops_by_itself_when_idle(channel, queue_name):
    channel.queue_declare(queue_name, durable=True)
    pool = WorkerPool(queue_name, idle_limit=0.5)
    pool.processes["worker-1"].wait(timeout=10)
    assert pool.events().event.tolist()[-1] == "stopped"


def test_no_worker_outlives_the_kernel_that_started_it(channel, queue_name):
    channel.queue_declare(queue_name, durable=True)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from helpers.lab.workers import WorkerPool
        pool = WorkerPool({queue_name!r})
        print(pool.processes["worker-1"].pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    parent.kill()  # as a kernel that died: nobody stops the pool
    parent.wait(timeout=5)
    stop_at = time.monotonic() + 10
    while time.monotonic() < stop_at:
        try:
            with open(f"/proc/{worker_pid}/status") as status:
                if "State:\tZ" in status.read():
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the worker was still running 10 s after its parent died")
