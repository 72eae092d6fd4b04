"""Checks for lesson 11: connections that survive a cut, and long jobs that keep heartbeats going.

Each check runs the learner's function for real, in a thread with a time limit, against the
broker, and then reads what the broker holds: the queue, the consumer's prefetch, whether a
connection is still open. Each prints one ✅/❌ line (see ``helpers.checks.report``).
"""

import threading
import time

from ..amqp import connect, publish
from ..management import management_api
from ..waiting import poll
from .report import check, report

__all__ = ["check_survives_cut_connection", "check_long_jobs"]


def _fresh_queue(queue, bodies):
    """Make ``queue`` anew (durable) with ``bodies`` in it, persistent."""
    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        for body in bodies:
            publish(channel, queue, body, persistent=True)


def _ready_in(queue):
    """How many messages wait in ``queue``, read from the broker at once (a passive declare)."""
    with connect(name="check") as connection:
        return connection.channel().queue_declare(queue, passive=True).method.message_count


def _run_in_thread(function, *args):
    """Start ``function(*args)`` in a daemon thread; return the thread and a list that gets the
    error it ended with, if any."""
    errors = []

    def run():
        try:
            function(*args)
        except Exception as error:  # noqa: BLE001 - the check reports it
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True, name="exercise-check")
    thread.start()
    return thread, errors


def _stalled_after(items, seconds):
    """A condition that is true once ``items`` has not grown for ``seconds`` (a worker that stopped taking jobs)."""
    last = {"size": -1, "since": time.monotonic()}

    def stalled():
        if len(items) != last["size"]:
            last.update(size=len(items), since=time.monotonic())
            return False
        return time.monotonic() - last["since"] > seconds
    return stalled


def _described(error):
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@check
def check_survives_cut_connection(consume_with_recovery, queue="recovery-exercise", jobs=30):
    """Lesson 11, exercise 1: ``consume_with_recovery(queue, handle, stop)`` must go on after the
    broker closes its connection, and handle every job with nothing lost. The check cuts the
    connection of whatever consumes ``queue`` after 5 jobs, through the management API."""
    if not callable(consume_with_recovery):
        return report(False, "", f"consume_with_recovery is {consume_with_recovery!r}, not a function: run its cell first.")
    api = management_api()
    expected = [f"job-{number:02d}" for number in range(jobs)]
    _fresh_queue(queue, expected)
    handled = []

    def handle(body):
        time.sleep(0.05)  # a short job
        handled.append(body.decode() if isinstance(body, bytes) else body)

    stop = threading.Event()
    thread, errors = _run_in_thread(consume_with_recovery, queue, handle, stop)
    try:
        poll(lambda: len(handled) >= 5 or not thread.is_alive(), timeout=5)
        if len(handled) < 5:
            if errors:
                return report(False, "", f"Before any cut, your function raised {_described(errors[0])}.")
            if not thread.is_alive():
                return report(False, "", f"Your function returned at once, having handled {len(handled)} jobs: it must "
                                         "consume until stop is set (loop on connection.process_data_events).")
            return report(False, "", f"In 5 s it handled {len(handled)} of {jobs} jobs: does it basic_consume from "
                                     "queue and call handle(body) for each message?")
        def consumers_of_queue():
            consumers = api.consumers()
            return consumers[consumers["queue"] == queue]["ack_required"].tolist()
        acks_required = poll(consumers_of_queue, timeout=5)
        if not acks_required:
            return report(False, "", f"The broker lists no consumer on '{queue}': take the jobs with basic_consume.")
        api.close_connections_consuming(queue, reason="Closed by the exercise check")
        stalled = _stalled_after(handled, seconds=6)
        poll(lambda: set(handled) >= set(expected) or not thread.is_alive() or stalled(), timeout=12)
    finally:
        stop.set()
        thread.join(timeout=3)
    left = _ready_in(queue)
    missing = sorted(set(expected) - set(handled))
    if errors:
        return report(False, "", f"After the broker closed its connection, your function ended with {_described(errors[0])}. "
                                 "Catch pika.exceptions.AMQPConnectionError, wait a little, and connect again in a loop.")
    if thread.is_alive():
        return report(False, "", "Your function did not return within 3 s of stop being set: check stop in each loop.")
    if not all(acks_required):
        return report(False, "", "The broker sent the jobs with auto_ack=True: it forgot each job as it sent it, so a "
                                 "worker that dies loses every job in its hands. Ack each job after handle(body) instead.")
    if left and len(set(handled)) + left > jobs:
        return report(False, "", f"{left} jobs are back in the queue, some of them already handled: your function never "
                                 "acknowledged them. Call channel.basic_ack(method.delivery_tag) after handle(body).")
    if missing and not left:
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled, and the queue is empty: they were lost "
                                 f"(first: {missing[0]}). Ack each job after handle(body), never before.")
    if missing:
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled and {left} still wait in the queue: "
                                 "after the cut, did your function connect and consume again?")
    if left:
        return report(False, "", f"Every job was handled, but {left} are back in the queue: they were never acknowledged. "
                                 "Call channel.basic_ack(method.delivery_tag) after handle(body).")
    report(True, f"All {jobs} jobs handled, though the broker closed the connection midway, and the queue is empty: "
                 "nothing lost.", "")


LONG_JOB_SECONDS = {"job-a": 4.0, "job-b": 1.0}  # 30 s jobs, time compressed: longer than two 1 s heartbeats


@check
def check_long_jobs(connect_for_long_jobs, run_long_jobs, queue="long-jobs-exercise"):
    """Lesson 11, exercise 2: a heartbeat the broker agrees to between 5 and 60 s, and a
    ``run_long_jobs(connection, queue, do_job, count)`` that keeps the connection alive through
    jobs longer than its heartbeat, with prefetch 1, each job done once and acked."""
    import pika

    api = management_api()
    if not callable(connect_for_long_jobs) or not callable(run_long_jobs):
        return report(False, "", "connect_for_long_jobs and run_long_jobs must both be functions: run their cell first.")
    connection = connect_for_long_jobs()
    if not isinstance(connection, pika.BlockingConnection):
        return report(False, "", f"connect_for_long_jobs() returned {connection!r}, not a connection: "
                                 "return pika.BlockingConnection(parameters(\"long-job-worker\", heartbeat=...)).")
    try:
        def heartbeats_listed():
            frame = api.connections()
            return frame[frame["connection_name"] == "long-job-worker"]["heartbeat"].tolist()
        listed = poll(heartbeats_listed, timeout=5)
        if not listed:
            return report(False, "", "The broker lists no connection named 'long-job-worker': "
                                     "connect with parameters(\"long-job-worker\", heartbeat=...).")
        heartbeat = int(listed[-1] or 0)
    finally:
        if connection.is_open:
            connection.close()
    if heartbeat == 0:
        return report(False, "", "Heartbeats are off (0): a worker whose machine died would keep its job unacknowledged "
                                 "until TCP gives up, which can take many minutes. Choose between 5 and 60 s.")
    if heartbeat < 5:
        return report(False, "", f"A {heartbeat} s heartbeat is too eager: a short stall of the network or the machine "
                                 "closes a healthy connection. RabbitMQ advises 5 to 20 s.")
    if heartbeat > 60:
        return report(False, "", f"With a {heartbeat} s heartbeat a dead worker is noticed only after {2 * heartbeat} s. "
                                 "The heartbeat need not cover the job when the work runs in a thread: choose 5 to 60 s.")

    _fresh_queue(queue, list(LONG_JOB_SECONDS))
    done, prefetches = [], set()

    def do_job(body):
        name = body.decode() if isinstance(body, bytes) else str(body)
        time.sleep(LONG_JOB_SECONDS.get(name, 1.0))
        done.append(name)

    compressed = connect(heartbeat=1, name="long-jobs-check")  # time compressed ten-fold
    thread, errors = _run_in_thread(run_long_jobs, compressed, queue, do_job, len(LONG_JOB_SECONDS))
    still_running = True
    try:
        give_up_at = time.monotonic() + 12  # about twice what a right answer takes
        while thread.is_alive() and len(done) < len(LONG_JOB_SECONDS) and time.monotonic() < give_up_at:
            consumers = api.consumers()
            prefetches |= set(consumers[consumers["queue"] == queue]["prefetch_count"].dropna().astype(int))
            thread.join(timeout=0.3)
        thread.join(timeout=max(0.0, give_up_at - time.monotonic()))
        survived = (api.connections()["connection_name"] == "long-jobs-check").any()  # the broker's view
        still_running = thread.is_alive()
        errors = list(errors)  # what it ended with on its own, before the check closes anything
        unacked = api.queue(queue).get("messages_unacknowledged", 0) if still_running else 0
    finally:
        if still_running:  # the learner's thread still uses the connection: close it from the broker's side
            if (api.connections()["connection_name"] == "long-jobs-check").any():
                api.close_connection("long-jobs-check", reason="Closed by the exercise check")
            thread.join(timeout=3)
        elif compressed.is_open:
            try:
                compressed.close()
            except pika.exceptions.AMQPError:
                pass  # the broker closed it already: the verdict below says why
    left = _ready_in(queue)
    if not prefetches and left == len(LONG_JOB_SECONDS):
        return report(False, "", f"The broker saw no consumer on '{queue}' and both jobs are still there: "
                                 "take the jobs from the queue with basic_consume.")
    if errors and isinstance(errors[0], pika.exceptions.AMQPConnectionError) or not survived:
        return report(False, "", "The broker closed the connection during a 4 s job with a 1 s heartbeat (missed heartbeats): "
                                 "do_job ran in pika's I/O thread. Run it in a thread and ack through "
                                 "connection.add_callback_threadsafe, while the I/O loop runs process_data_events.")
    if errors:
        return report(False, "", f"run_long_jobs raised {_described(errors[0])}.")
    if still_running and unacked:
        return report(False, "", f"run_long_jobs did not return within 12 s, and {done[0] if done else 'a job'} it had done "
                                 "was still unacknowledged: ack each job after its work (with prefetch 1, the next job "
                                 "comes only after that ack).")
    if still_running:
        return report(False, "", "run_long_jobs did not return within 12 s: return once count jobs are done and acked.")
    if not done:
        return report(False, "", "run_long_jobs returned without doing any job: consume from queue and call do_job(body).")
    if prefetches and prefetches != {1}:
        seen = ", ".join("unlimited (0)" if value == 0 else str(value) for value in sorted(prefetches))
        return report(False, "", f"The broker saw a prefetch of {seen}: jobs of 30 s would wait behind each other on one "
                                 "worker (their acknowledgement timeout running) while other workers idle. Use basic_qos(prefetch_count=1).")
    if len(done) != len(set(done)) or set(done) != set(LONG_JOB_SECONDS):
        return report(False, "", f"The jobs were done as {done}: each of {sorted(LONG_JOB_SECONDS)} should be done once.")
    if left:
        return report(False, "", f"Both jobs were done, but {left} went back to the queue: ack each job after its work "
                                 "(through connection.add_callback_threadsafe).")
    report(True, f"Heartbeat {heartbeat} s, prefetch 1, and a 4 s job on a 1 s heartbeat: every job done once and acked, "
                 "the connection kept open.", "")
