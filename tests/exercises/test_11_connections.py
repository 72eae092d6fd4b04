"""Lesson 11 (connections that last): each exercise's check against wrong answers, on the real broker."""

import functools
import threading
import time

import pika
import pytest

from helpers import checks
from helpers.amqp import connect
from helpers.errors import CourseError
from exercise_support import verdict


def worker_left_empty(queue, handle, stop):
    ...


def worker_as_given(queue, handle, stop):
    """The exercise's starting point: no recovery, and auto_ack."""
    connection = connect(name="exercise-worker")
    channel = connection.channel()
    channel.basic_consume(queue, lambda channel, method, properties, body: handle(body.decode()), auto_ack=True)
    while not stop.is_set():
        connection.process_data_events(time_limit=0.2)
    connection.close()


def worker_handles_typed_in_jobs(queue, handle, stop):
    for number in range(30):  # the job names the check uses, without consuming anything
        handle(f"job-{number:02d}")
    stop.wait(10)


def recovering_worker(auto_ack=False, ack=True, ack_first=False, give_up_after_a_loss=False):
    def consume_with_recovery(queue, handle, stop):
        while not stop.is_set():
            connection = None
            try:
                connection = connect(name="exercise-worker")
                channel = connection.channel()
                channel.basic_qos(prefetch_count=10)

                def on_message(channel, method, properties, body):
                    if ack_first:
                        channel.basic_ack(method.delivery_tag)
                    handle(body.decode())
                    if ack and not auto_ack and not ack_first:
                        channel.basic_ack(method.delivery_tag)

                channel.basic_consume(queue, on_message, auto_ack=auto_ack)
                while not stop.is_set():
                    connection.process_data_events(time_limit=0.2)
                connection.close()
            except (pika.exceptions.AMQPConnectionError, CourseError):
                if give_up_after_a_loss:
                    return
                if connection is not None and connection.is_open:
                    connection.close()
                stop.wait(0.5)
    return consume_with_recovery


@pytest.mark.parametrize("answer, expected", [
    (worker_left_empty, "❌"), (worker_as_given, "❌"), (worker_handles_typed_in_jobs, "❌"),
    (recovering_worker(auto_ack=True), "❌"), (recovering_worker(ack=False), "❌"), (recovering_worker(ack_first=True), "❌"),
    (recovering_worker(give_up_after_a_loss=True), "❌"), (recovering_worker(), "✅"),
], ids=["left empty", "as given", "typed-in jobs", "recovers with auto_ack", "recovers, never acks", "acks before the work",
        "returns after the loss", "solution"])
def test_11_exercise_1_survives_a_cut_connection(capsys, answer, expected):
    checks.check_survives_cut_connection(answer, queue="pytest-recovery-exercise")
    assert verdict(capsys) == expected


def test_11_exercise_1_a_second_try_after_a_wrong_one(capsys):
    checks.check_survives_cut_connection(worker_as_given, queue="pytest-recovery-exercise-2")
    assert verdict(capsys) == "❌"
    checks.check_survives_cut_connection(recovering_worker(), queue="pytest-recovery-exercise-2")
    assert verdict(capsys) == "✅"


def long_job_connection(heartbeat):
    return lambda: connect(name="long-job-worker", heartbeat=heartbeat)


def long_jobs_in_threads(prefetch=1, ack=True, ack_first=False, auto_ack=False, ack_from_the_job_thread=False):
    def run_long_jobs(connection, queue, do_job, count):
        channel = connection.channel()
        if prefetch is not None:
            channel.basic_qos(prefetch_count=prefetch)
        finished = []

        def after_work(delivery_tag):
            if ack and not ack_first and not auto_ack:
                channel.basic_ack(delivery_tag)
            finished.append(delivery_tag)

        def on_job(channel, method, properties, body):
            if ack_first:
                channel.basic_ack(method.delivery_tag)

            def work():
                do_job(body)
                if ack_from_the_job_thread:
                    channel.basic_ack(method.delivery_tag)  # the unsafe way: from another thread
                    finished.append(method.delivery_tag)
                else:
                    connection.add_callback_threadsafe(functools.partial(after_work, method.delivery_tag))
            threading.Thread(target=work, daemon=True).start()

        channel.basic_consume(queue, on_job, auto_ack=auto_ack)
        deadline = time.monotonic() + 30
        while len(finished) < count and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
        channel.close()
    return run_long_jobs


def long_jobs_while_the_loop_sleeps(connection, queue, do_job, count):
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    done = []

    def on_job(channel, method, properties, body):
        def work():
            do_job(body)
            done.append(method.delivery_tag)
        threading.Thread(target=work, daemon=True).start()

    channel.basic_consume(queue, on_job)
    connection.process_data_events(time_limit=0.5)  # takes the first job...
    while len(done) < 1:
        time.sleep(0.2)  # ...then waits without pika: no heartbeats
    channel.basic_ack(done[0])


def long_jobs_by_basic_get(connection, queue, do_job, count):
    channel = connection.channel()
    for _ in range(count):
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        do_job(body)


def long_jobs_in_the_io_thread(connection, queue, do_job, count):
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    done = []

    def on_job(channel, method, properties, body):
        do_job(body)  # holds pika's I/O loop: no heartbeats meanwhile
        channel.basic_ack(method.delivery_tag)
        done.append(body)

    channel.basic_consume(queue, on_job)
    deadline = time.monotonic() + 30
    while len(done) < count and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.2)


def long_jobs_typed_in(connection, queue, do_job, count):
    for body in (b"job-a", b"job-b"):  # the check's job names, not taken from the queue
        do_job(body)


@pytest.mark.parametrize("connect_for_long_jobs", [lambda: None, long_job_connection(0), long_job_connection(1),
                                                   long_job_connection(600), lambda: connect(name="another-name", heartbeat=10),
                                                   lambda: connect(name="long-job-worker", heartbeat=10).channel()],
                         ids=["left empty", "heartbeats off", "1 s", "600 s", "another name", "a channel"])
def test_11_exercise_2_a_wrong_heartbeat(capsys, connect_for_long_jobs):
    checks.check_long_jobs(connect_for_long_jobs, long_jobs_in_threads(), queue="pytest-long-jobs-exercise")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("run_long_jobs, expected", [
    (lambda connection, queue, do_job, count: None, "❌"), (long_jobs_typed_in, "❌"), (long_jobs_in_the_io_thread, "❌"),
    (long_jobs_in_threads(prefetch=None), "❌"), (long_jobs_in_threads(ack=False), "❌"),
    (long_jobs_in_threads(ack_first=True), "❌"), (long_jobs_in_threads(auto_ack=True), "❌"),
    (long_jobs_in_threads(ack_from_the_job_thread=True), "❌"), (long_jobs_while_the_loop_sleeps, "❌"),
    (long_jobs_by_basic_get, "❌"), (long_jobs_in_threads(), "✅"),
], ids=["left empty", "typed in", "work in the I/O thread", "no prefetch", "never acks", "acks before the work", "auto_ack",
        "acks from the job's thread", "loop sleeps", "basic_get", "solution"])
# The answer that acks from the job's thread breaks pika's connection in that thread, as it would
# in a learner's kernel: the thread's exception is that wrong answer's, not the check's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_11_exercise_2_long_jobs(capsys, run_long_jobs, expected):
    checks.check_long_jobs(long_job_connection(10), run_long_jobs, queue="pytest-long-jobs-exercise")
    assert verdict(capsys) == expected
