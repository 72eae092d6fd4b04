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
    """Lesson 11, exercise 1: ``consume_with_recovery(queue, handle, stop)`` must go on after
    losing its connection, and handle every job with nothing lost. Twice: in the middle of the
    sixth job, ``handle`` raises pika's ``StreamLostError``, as a lost connection does (that job
    must come back); after the twelfth, the check closes the worker's connection from the
    broker's side, through the management API."""
    import pika

    if not callable(consume_with_recovery):
        return report(False, "", f"consume_with_recovery is a {type(consume_with_recovery).__name__}, not a function: "
                                 "run its cell first.")
    api = management_api()
    expected = [f"job-{number:02d}" for number in range(jobs)]
    _fresh_queue(queue, expected)
    handled, lost_in_the_middle = [], []

    def handle(body):
        name = body.decode() if isinstance(body, bytes) else str(body)
        if len(handled) == 5 and not lost_in_the_middle:
            lost_in_the_middle.append(name)  # not done: the work stopped with the connection
            raise pika.exceptions.StreamLostError("Stream connection lost (the exercise check, in the middle of a job)")
        time.sleep(0.05)  # a short job
        handled.append(name)

    def consumers_of_queue():
        consumers = api.consumers()
        return consumers[consumers["queue"] == queue]["ack_required"].tolist()

    stop = threading.Event()
    thread, errors = _run_in_thread(consume_with_recovery, queue, handle, stop)
    try:
        acks_required = poll(lambda: consumers_of_queue() or not thread.is_alive(), timeout=3)  # how it consumes
        acks_required = acks_required if isinstance(acks_required, list) else []
        poll(lambda: len(handled) >= 12 or not thread.is_alive(), timeout=8)
        if len(handled) >= 12:
            if poll(consumers_of_queue, timeout=3):
                api.close_connections_consuming(queue, reason="Closed by the exercise check")
                stalled = _stalled_after(handled, seconds=6)
                poll(lambda: set(handled) >= set(expected) or not thread.is_alive() or stalled(), timeout=12)
        ended_by_itself = not thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=3)
    left = _ready_in(queue)
    unacked = api.queue(queue).get("messages_unacknowledged", 0)
    missing = sorted(set(expected) - set(handled))
    reconnect = "Wrap it in a loop: on pika.exceptions.AMQPConnectionError (and AMQPChannelError), wait a little and connect again."
    if not lost_in_the_middle:
        if errors:
            return report(False, "", f"Your function raised {_described(errors[0])}.")
        if ended_by_itself:
            return report(False, "", f"Your function returned at once, having handled {len(handled)} jobs: it must "
                                     "consume until stop is set (loop on connection.process_data_events).")
        return report(False, "", f"In 8 s it handled {len(handled)} of {jobs} jobs: does it basic_consume from "
                                 "queue and call handle(body) for each message?")
    if errors:
        return report(False, "", f"After losing its connection, your function ended with {_described(errors[0])}. " + reconnect)
    if thread.is_alive():
        return report(False, "", "Your function did not return within 3 s of stop being set: check stop in each loop. "
                                 "It still runs in this kernel: restart the kernel (Kernel → Restart) before trying again.")
    if ended_by_itself and missing:
        return report(False, "", "Your function returned after losing its connection, before stop was set. " + reconnect)
    if not acks_required:
        return report(False, "", f"The broker lists no consumer on '{queue}': take the jobs with basic_consume.")
    if not all(acks_required):
        return report(False, "", "The broker sent the jobs with auto_ack=True: it forgot each job as it sent it, so a "
                                 "worker that dies loses every job in its hands. Ack each job after handle(body) instead.")
    if len(handled) < 12:
        return report(False, "", f"After losing its connection in the middle of {lost_in_the_middle[0]}, your function "
                                 f"handled only {len(handled)} jobs: connect again and consume.")
    if left and len(set(handled)) + left > jobs:
        return report(False, "", f"{left} jobs are back in the queue, some of them already handled: your function never "
                                 "acknowledged them. Call channel.basic_ack(method.delivery_tag) after handle(body).")
    if lost_in_the_middle[0] in missing and unacked:
        return report(False, "", f"{lost_in_the_middle[0]} is still unacknowledged on the connection your function had "
                                 "when it was lost: close the old connection (if connection.is_open: connection.close()) "
                                 "before connecting again, and the broker gives its jobs back.")
    if lost_in_the_middle[0] in missing and not left:
        return report(False, "", f"{lost_in_the_middle[0]}, lost in the middle of handle(body), never came back: it had been "
                                 "acknowledged before its work was done. Ack after handle(body), never before.")
    if missing and not left:
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled, and the queue is empty: they were lost "
                                 f"(first: {missing[0]}). Take them with basic_consume and ack each after handle(body).")
    if missing:
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled and {left} still wait in the queue: "
                                 "after the cut, did your function connect and consume again?")
    if left:
        return report(False, "", f"Every job was handled, but {left} are back in the queue: they were never acknowledged. "
                                 "Call channel.basic_ack(method.delivery_tag) after handle(body).")
    report(True, f"All {jobs} jobs handled, {lost_in_the_middle[0]} (lost in the middle) included, through two lost "
                 "connections, and the queue is empty: nothing lost.", "")


LONG_JOB_SECONDS = {"job-a": 4.0, "job-b": 1.0}  # 30 s jobs, time compressed: longer than two 1 s heartbeats


def _with_acks_recorded(connection, ack_threads):
    """Make ``connection.channel()`` give channels whose ``basic_ack`` notes the thread it was
    called from: a BlockingConnection belongs to one thread, acks included."""
    open_channel = connection.channel

    def channel(*args, **kwargs):
        opened = open_channel(*args, **kwargs)
        basic_ack = opened.basic_ack

        def recorded_ack(*ack_args, **ack_kwargs):
            ack_threads.add(threading.current_thread().name)
            return basic_ack(*ack_args, **ack_kwargs)
        opened.basic_ack = recorded_ack
        return opened
    connection.channel = channel


def _agreed_heartbeat(api, connect_for_long_jobs):
    """Call the learner's ``connect_for_long_jobs()`` and read the heartbeat the broker agreed to
    for the connection it opened (found as the one 'long-job-worker' that was not there before).
    Returns (heartbeat, None), or (None, what is wrong)."""
    import pika

    def addresses():
        frame = api.connections()
        return dict(zip(frame[frame["connection_name"] == "long-job-worker"]["name"],
                        frame[frame["connection_name"] == "long-job-worker"]["heartbeat"]))
    before = addresses()
    returned = connect_for_long_jobs()
    try:
        if not isinstance(returned, pika.BlockingConnection):
            return None, (f"connect_for_long_jobs() returned a {type(returned).__name__}, not a connection: "
                          "return pika.BlockingConnection(parameters(\"long-job-worker\", heartbeat=...)).")
        new = poll(lambda: {name: beat for name, beat in addresses().items() if name not in before}, timeout=5)
        if not new:
            return None, ("The broker lists no new connection named 'long-job-worker': "
                          "connect with parameters(\"long-job-worker\", heartbeat=...).")
        return int(next(iter(new.values())) or 0), None
    finally:
        opened = returned if isinstance(returned, pika.BlockingConnection) else getattr(returned, "connection", None)
        if isinstance(opened, pika.BlockingConnection) and opened.is_open:
            opened.close()


@check
def check_long_jobs(connect_for_long_jobs, run_long_jobs, queue="long-jobs-exercise"):
    """Lesson 11, exercise 2: a heartbeat the broker agrees to between 5 and 60 s, and a
    ``run_long_jobs(connection, queue, do_job, count)`` that keeps the connection alive through
    jobs longer than its heartbeat: consumed with acks, prefetch 1, each job done once and acked
    after its work, from the connection's own thread."""
    import pika

    api = management_api()
    if not callable(connect_for_long_jobs) or not callable(run_long_jobs):
        return report(False, "", "connect_for_long_jobs and run_long_jobs must both be functions: run their cell first.")
    heartbeat, problem = _agreed_heartbeat(api, connect_for_long_jobs)
    if problem:
        return report(False, "", problem)
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
    done, running, overlapped = [], [], []
    prefetches, acks_required, ack_threads = set(), set(), set()

    def do_job(body):
        name = body.decode() if isinstance(body, bytes) else str(body)
        if running:
            overlapped.append(name)  # started while another job was still being done
        running.append(name)
        time.sleep(LONG_JOB_SECONDS.get(name, 1.0))
        running.remove(name)
        done.append(name)

    compressed = connect(heartbeat=1, name="long-jobs-check")  # time compressed ten-fold
    _with_acks_recorded(compressed, ack_threads)
    thread, errors = _run_in_thread(run_long_jobs, compressed, queue, do_job, len(LONG_JOB_SECONDS))
    still_running = True
    try:
        give_up_at = time.monotonic() + 12  # about twice what a right answer takes
        while thread.is_alive() and len(done) < len(LONG_JOB_SECONDS) and time.monotonic() < give_up_at:
            consumers = api.consumers()
            mine = consumers[consumers["queue"] == queue]
            prefetches |= set(mine["prefetch_count"].dropna().astype(int))
            acks_required |= set(mine["ack_required"].dropna())
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
    if not prefetches:
        return report(False, "", f"The broker saw no consumer on '{queue}': take the jobs with basic_consume "
                                 "(and basic_qos), not by other means.")
    if errors and isinstance(errors[0], pika.exceptions.AMQPConnectionError) or not survived:
        return report(False, "", "The broker closed the connection during a 4 s job with a 1 s heartbeat: no heartbeat went "
                                 "out meanwhile. Run do_job in a thread of its own, and keep calling "
                                 "connection.process_data_events while it runs; ack through connection.add_callback_threadsafe.")
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
    if False in acks_required:
        return report(False, "", "The broker sent the jobs with auto_ack=True (so it ignores the prefetch, and a worker that "
                                 "dies loses its job): consume with manual acks and ack each job after its work.")
    if prefetches != {1}:
        seen = ", ".join("unlimited (0)" if value == 0 else str(value) for value in sorted(prefetches))
        return report(False, "", f"The broker saw a prefetch of {seen}: it hands this worker several 30 s jobs at once, which "
                                 "a free worker could be doing, and their acknowledgement timeout runs meanwhile. "
                                 "Use basic_qos(prefetch_count=1).")
    if overlapped:
        return report(False, "", f"{overlapped[0]} started while another job was still being done: with prefetch 1 that "
                                 "means the first was acked before its work ended. Ack after do_job(body) returns.")
    if ack_threads - {"exercise-check"}:
        return report(False, "", "basic_ack was called from the job's thread: a BlockingConnection belongs to the thread that "
                                 "runs it. Hand the ack back with connection.add_callback_threadsafe.")
    if len(done) != len(set(done)) or set(done) != set(LONG_JOB_SECONDS):
        return report(False, "", f"The jobs were done as {done}: each of {sorted(LONG_JOB_SECONDS)} should be done once.")
    if left:
        return report(False, "", f"Both jobs were done, but {left} went back to the queue: ack each job after its work "
                                 "(through connection.add_callback_threadsafe).")
    report(True, f"Heartbeat {heartbeat} s, prefetch 1, and a 4 s job on a 1 s heartbeat: every job done once and acked, "
                 "the connection kept open.", "")
