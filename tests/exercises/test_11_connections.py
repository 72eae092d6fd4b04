"""Lesson 11 (connections that last): each exercise's check against wrong answers, on the real broker."""

import functools
import threading
import time

import pika
import pytest

from helpers import checks
from helpers.amqp import connect
from helpers.errors import CourseError
from exercise_support import said as one_line
from exercise_support import EVERY_RUN
from limits import NEVER_HANGS


def said(capsys):
    """The check's one line, which must come from reading the answer, not from the check's own
    fallback for an error inside it."""
    out = capsys.readouterr().out
    assert "could not read your answer" not in out, out
    print(out, end="")
    return one_line(capsys)


def verdict(capsys):
    return said(capsys)[0]


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


def recovering_worker(auto_ack=False, ack=True, ack_first=False, give_up_after_a_loss=False, catch_only_stream_lost=False,
                      tag=None, settle="ack", swallow=False, batch=1, republish=False, close_at_stop=True, ignore_stop=None):
    """A worker with a recovery loop, and one mistake (or none: the solution). ``ignore_stop`` is
    an Event: the worker runs on after stop, for 25 s, and sets it when it has ended."""
    def consume_with_recovery(queue, handle, stop):
        if ignore_stop is not None:
            stop, given_stop = threading.Event(), stop
            threading.Timer(25, stop.set).start()  # its own end, so the test run is not left with it
        while not stop.is_set():
            connection, in_hand = None, []
            try:
                connection = connect(name="exercise-worker")
                channel = connection.channel()
                channel.basic_qos(prefetch_count=10)
                if republish:  # re-sends what it had in hand, as the lesson's publisher does
                    for body in republish_pending:
                        channel.basic_publish("", queue, body)
                    republish_pending.clear()
                unacked = []

                def on_message(channel, method, properties, body):
                    in_hand.append(body)
                    if ack_first:
                        channel.basic_ack(method.delivery_tag)
                    try:
                        handle(body.decode())
                    except pika.exceptions.AMQPError:
                        if swallow:  # takes the lost connection for a failed job, and goes on
                            pass
                        else:
                            raise
                    in_hand.remove(body)
                    if auto_ack or ack_first or not ack:
                        return
                    delivery_tag = method.delivery_tag if tag is None else tag
                    if settle == "nack":
                        channel.basic_nack(delivery_tag)  # requeue=True: the job comes back
                    elif settle == "reject":
                        channel.basic_reject(delivery_tag)
                    else:
                        unacked.append(delivery_tag)
                        if len(unacked) == batch:
                            channel.basic_ack(unacked[-1], multiple=batch > 1)
                            unacked.clear()

                channel.basic_consume(queue, on_message, auto_ack=auto_ack)
                while not stop.is_set():
                    connection.process_data_events(time_limit=0.2)
                if not close_at_stop:
                    return  # its connection stays open, its consumer on the queue
                connection.close()
            except (pika.exceptions.StreamLostError if catch_only_stream_lost
                    else (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, CourseError)):
                if give_up_after_a_loss:
                    return
                if republish:
                    republish_pending.extend(in_hand)
                if connection is not None and connection.is_open:
                    connection.close()
                stop.wait(0.5)
        if ignore_stop is not None:
            ignore_stop.set()
    republish_pending = []
    return consume_with_recovery


WRONG_WORKERS = {
    "left empty": worker_left_empty,
    "as given: auto_ack, no recovery": worker_as_given,
    "typed-in jobs": worker_handles_typed_in_jobs,
    "acks: recovers with auto_ack": recovering_worker(auto_ack=True),
    "acks: recovers, never acks": recovering_worker(ack=False),
    "acks: acks before the work": recovering_worker(ack_first=True),
    "acks: hard-coded delivery tag 1": recovering_worker(tag=1),
    "acks: in batches of 4, the last batch left unacked at stop": recovering_worker(batch=4),
    "counts: nacks after the work (requeued, done again)": recovering_worker(settle="nack"),
    "counts: rejects after the work (requeued, done again)": recovering_worker(settle="reject"),
    "counts: takes the lost connection for a failed job and acks it (job lost)": recovering_worker(swallow=True),
    "counts: re-publishes the jobs it had in hand (extra copies)": recovering_worker(republish=True),
    "task: returns after the loss": recovering_worker(give_up_after_a_loss=True),
    "task: catches only StreamLostError, not the broker's close": recovering_worker(catch_only_stream_lost=True),
    "stopped: returns at stop with its connection still open": recovering_worker(close_at_stop=False),
}


# The check cuts the connection at points it controls (a job count in handle, then the broker's
# own view of the queue), so each answer gets the same verdict on every run, whatever the load:
# EVERY_RUN runs each of the solution and of the answers whose verdict the cuts decide.
SOLUTION_WORKER = recovering_worker()
REPEATED = [(name, EVERY_RUN) for name in ["solution", "task: catches only StreamLostError, not the broker's close",
                                    "task: returns after the loss", "acks: in batches of 4, the last batch left unacked at stop",
                                    "acks: recovers with auto_ack", "acks: recovers, never acks", "acks: acks before the work"]]


@pytest.mark.parametrize("answer", [WRONG_WORKERS[name] for name in WRONG_WORKERS if name not in dict(REPEATED)],
                         ids=[name for name in WRONG_WORKERS if name not in dict(REPEATED)])
def test_11_exercise_1_wrong_answers(capsys, answer):  # the others run EVERY_RUN times below
    checks.check_survives_cut_connection(answer, queue="pytest-recovery-exercise")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("name, attempt", [(name, attempt) for name, times in REPEATED for attempt in range(times)],
                         ids=[f"{name} #{attempt + 1}" for name, times in REPEATED for attempt in range(times)])
def test_11_exercise_1_same_verdict_on_every_run(capsys, name, attempt):
    answer = SOLUTION_WORKER if name == "solution" else WRONG_WORKERS[name]
    checks.check_survives_cut_connection(answer, queue="pytest-recovery-exercise")
    line = said(capsys)
    assert line[0] == ("✅" if name == "solution" else "❌"), line


def test_11_exercise_1_a_worker_that_runs_on_after_stop(capsys):
    ended = threading.Event()
    checks.check_survives_cut_connection(recovering_worker(ignore_stop=ended), queue="pytest-recovery-ignores-stop")
    line = said(capsys)
    assert line[0] == "❌" and "did not return" in line, line
    assert ended.wait(NEVER_HANGS), "the worker of this test ends on its own 25 s after it started"


def test_11_exercise_1_a_second_try_after_a_wrong_one(capsys):
    checks.check_survives_cut_connection(worker_as_given, queue="pytest-recovery-exercise-2")
    assert verdict(capsys) == "❌"
    checks.check_survives_cut_connection(recovering_worker(), queue="pytest-recovery-exercise-2")
    line = said(capsys)
    assert line[0] == "✅", line


def long_job_connection(heartbeat):
    return lambda: connect(name="long-job-worker", heartbeat=heartbeat)


def long_jobs_in_threads(prefetch=1, ack=True, ack_first=False, auto_ack=False, ack_from_the_job_thread=False, tag=None,
                         ignore_count=False, return_when_started=False, leave_consumer=False):
    def run_long_jobs(connection, queue, do_job, count):
        channel = connection.channel()
        if prefetch is not None:
            channel.basic_qos(prefetch_count=prefetch)
        finished = []

        started = []

        def after_work(delivery_tag):
            if ack and not ack_first and not auto_ack:
                channel.basic_ack(delivery_tag if tag is None else tag)
            finished.append(delivery_tag)

        def on_job(channel, method, properties, body):
            if len(started) >= count and not ignore_count:
                return  # sent after the last ack: left unacked, it goes back to the queue with the channel
            started.append(body)
            if ack_first:
                channel.basic_ack(method.delivery_tag)

            def work():
                do_job(body)
                if ack_from_the_job_thread:
                    try:
                        channel.basic_ack(method.delivery_tag)  # the unsafe way: from another thread
                    except pika.exceptions.AMQPError:
                        return  # its channel is gone (the check has closed it): the thread ends quietly
                    finished.append(method.delivery_tag)
                else:
                    try:
                        connection.add_callback_threadsafe(functools.partial(after_work, method.delivery_tag))
                    except pika.exceptions.ConnectionWrongStateError:
                        pass  # an answer that returned before its work ended: the check has closed its connection
            threading.Thread(target=work, daemon=True).start()

        channel.basic_consume(queue, on_job, auto_ack=auto_ack)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
            if return_when_started and len(started) >= count:
                break  # the work of the last job still runs in its thread
            if len(finished) >= count and not ignore_count:
                break
            if ignore_count and len(finished) >= 1 and channel.get_waiting_message_count() == 0 and \
                    len(finished) == len(started):
                connection.process_data_events(time_limit=1.5)  # until the queue is empty
                if len(finished) == len(started):
                    break
        if not leave_consumer:
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
                                                   long_job_connection(4), long_job_connection(61), long_job_connection(600), lambda: connect(name="another-name", heartbeat=10),
                                                   lambda: connect(name="long-job-worker", heartbeat=10).channel()],
                         ids=["left empty", "heartbeats off", "1 s", "4 s: one below the lowest", "61 s: one above the highest", "600 s",
                              "another name", "a channel"])
def test_11_exercise_2_a_wrong_heartbeat(capsys, connect_for_long_jobs):
    checks.check_long_jobs(connect_for_long_jobs, long_jobs_in_threads(), queue="pytest-long-jobs-exercise")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("run_long_jobs, expected", [
    (lambda connection, queue, do_job, count: None, "❌"), (long_jobs_typed_in, "❌"), (long_jobs_in_the_io_thread, "❌"),
    (long_jobs_in_threads(prefetch=None), "❌"), (long_jobs_in_threads(ack=False), "❌"),
    (long_jobs_in_threads(ack_first=True), "❌"), (long_jobs_in_threads(auto_ack=True), "❌"),
    (long_jobs_in_threads(ack_from_the_job_thread=True), "❌"), (long_jobs_while_the_loop_sleeps, "❌"),
    (long_jobs_by_basic_get, "❌"), (long_jobs_in_threads(tag=1), "❌"), (long_jobs_in_threads(ignore_count=True), "❌"),
    (long_jobs_in_threads(return_when_started=True), "❌"), (long_jobs_in_threads(leave_consumer=True), "❌"),
    (long_jobs_in_threads(prefetch=2), "❌"), (long_jobs_in_threads(), "✅"),
], ids=["left empty", "typed in", "work in the I/O thread", "no prefetch", "never acks", "acks before the work", "auto_ack",
        "acks from the job's thread", "loop sleeps", "basic_get", "acks: hard-coded delivery tag 1",
        "count: takes every job in the queue", "stopped: returns while the last job's work still runs",
        "stopped: returns with its consumer still on the queue", "prefetch 2", "solution"])
# The answer that acks from the job's thread breaks pika's connection in that thread, as it would
# in a learner's kernel: the thread's exception is that wrong answer's, not the check's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_11_exercise_2_long_jobs(capsys, run_long_jobs, expected):
    checks.check_long_jobs(long_job_connection(10), run_long_jobs, queue="pytest-long-jobs-exercise")
    line = said(capsys)
    assert line[0] == expected, line


@pytest.mark.parametrize("heartbeat", [5, 60], ids=["5 s: the lowest", "60 s: the highest"])
def test_11_exercise_2_a_heartbeat_at_the_bounds(capsys, heartbeat):
    checks.check_long_jobs(long_job_connection(heartbeat), long_jobs_in_threads(), queue="pytest-long-jobs-exercise")
    line = said(capsys)
    assert line[0] == "✅", line


# The answers whose verdict rests on what the broker does to a connection whose heartbeats stop
# while a job runs: EVERY_RUN runs each.
@pytest.mark.parametrize("attempt", range(EVERY_RUN))
@pytest.mark.parametrize("run_long_jobs", [long_jobs_in_the_io_thread, long_jobs_while_the_loop_sleeps],
                         ids=["work in the I/O thread", "loop sleeps"])
def test_11_exercise_2_same_verdict_on_every_run(capsys, run_long_jobs, attempt):
    checks.check_long_jobs(long_job_connection(10), run_long_jobs, queue="pytest-long-jobs-exercise")
    line = said(capsys)
    assert line[0] == "❌", line


def test_11_exercise_2_a_second_try_after_a_wrong_one(capsys):
    checks.check_long_jobs(long_job_connection(10), long_jobs_in_threads(ack_first=True), queue="pytest-long-jobs-exercise-2")
    assert verdict(capsys) == "❌"
    checks.check_long_jobs(long_job_connection(10), long_jobs_in_threads(), queue="pytest-long-jobs-exercise-2")
    line = said(capsys)
    assert line[0] == "✅", line
