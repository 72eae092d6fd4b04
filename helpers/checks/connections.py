"""Checks for lesson 11: connections that survive a cut, and long jobs that keep heartbeats going.

Each check runs the learner's function for real, in a thread with a time limit, against the
broker, and then reads what the broker holds: the queue, the consumer's prefetch, whether a
connection is still open. Each prints one ✅/❌ line (see ``helpers.checks.report``).
"""

import threading
import time
from collections import Counter

from ..amqp import connect, publish, queue_counts
from ..management import management_api
from ..waiting import poll
from .report import check, report, run_in_thread

__all__ = ["check_survives_cut_connection", "check_long_jobs"]


def _fresh_queue(queue, bodies):
    """Make ``queue`` anew (durable) with ``bodies`` in it, persistent."""
    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        for body in bodies:
            publish(channel, queue, body, persistent=True)


def _close_consumers(api, queue, reason, timeout=10):
    """Close, from the broker's side, every connection consuming from ``queue``, until the broker
    shows the queue without consumers (its unacknowledged messages are then ready again).
    Returns how many connections it closed, or None if the broker still lists a consumer."""
    closed = []

    def none_left():
        if queue_counts(queue).consumers == 0:
            return True
        closed.append(api.close_connections_consuming(queue, reason=reason))
        return False
    return sum(closed) if poll(none_left, timeout=timeout, interval=0.2) else None


def _unexplained_repeats(events):
    """The jobs handled more often than lost connections explain. A job comes back only when the
    connection that had it goes before its ack, so each handling after the first needs a loss
    that came after an earlier handling of that job (the loss events name the job in hand). A
    nack or reject after the work, or a copy published again, shows here; the broker's publish
    statistic is not needed (RabbitMQ 4 carries it over to a new queue of the same name)."""
    handled, explained, repeated = Counter(), Counter(), []
    for kind, name in events:
        if kind == "lost":
            if handled[name]:
                explained[name] += 1
        else:
            if handled[name] > explained[name]:
                repeated.append(name)
            handled[name] += 1
    return repeated


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
    losing its connection, and handle every job with nothing lost. Twice, at points the check
    controls: in the middle of the sixth job, ``handle`` raises pika's ``StreamLostError``, as a
    lost connection does (that job must come back); at the end of the twelfth, before its ack,
    ``handle`` closes the worker's connection from the broker's side and waits until the broker
    shows the queue without consumers. Acks are read from the broker: the consumer's ack mode, and
    what is left in the queue once every connection that consumed from it is closed."""
    import pika

    if not callable(consume_with_recovery):
        return report(False, "", f"consume_with_recovery is a {type(consume_with_recovery).__name__}, not a function: "
                                 "run its cell first.")
    api = management_api()
    expected = [f"job-{number:02d}" for number in range(jobs)]
    _fresh_queue(queue, expected)
    handled, events, lost_in_the_middle, cut = [], [], [], {}

    def consumers_of_queue():
        consumers = api.consumers()
        return consumers[consumers["queue"] == queue]["ack_required"].tolist()

    def cut_the_connection(name):
        """In the worker's own thread, so the worker stands still meanwhile: the check reads how it
        consumes, then closes its connection and waits until the broker has taken its jobs back."""
        cut["ack_modes"] = poll(consumers_of_queue, timeout=10, interval=0.2) or []
        cut["closed"] = _close_consumers(api, queue, reason="Closed by the exercise check")
        events.append(("lost", name))

    def handle(body):
        name = body.decode() if isinstance(body, bytes) else str(body)
        if len(handled) == 5 and not lost_in_the_middle:
            lost_in_the_middle.append(name)  # not done: the work stopped with the connection
            cut["modes_at_first_loss"] = poll(consumers_of_queue, timeout=10, interval=0.2) or []
            events.append(("lost", name))
            raise pika.exceptions.StreamLostError("Stream connection lost (the exercise check, in the middle of a job)")
        time.sleep(0.05)  # a short job
        handled.append(name)
        events.append(("handled", name))
        if "closed" in cut and not cut.get("consuming_again"):
            # pika may hand over what it had received before it notices the close: until the
            # broker lists a consumer again, a job comes from the closed connection and comes back
            cut["consuming_again"] = queue_counts(queue).consumers > 0
            if not cut["consuming_again"]:
                events.append(("lost", name))
        if len(handled) == 12 and "closed" not in cut:
            cut_the_connection(name)  # the work is done, its ack not yet sent

    empty_since = []

    def queue_emptied():
        """Every message acked or lost, as the broker shows it for 1.5 s: nothing more can come."""
        empty = queue_counts(queue).messages == 0 and api.queue(queue).get("messages") == 0
        empty_since[:] = (empty_since or [time.monotonic()]) if empty else []
        return bool(empty_since) and time.monotonic() - empty_since[0] >= 1.5

    stop = threading.Event()
    thread, errors = run_in_thread(consume_with_recovery, queue, handle, stop)
    try:
        # Generous limits: on a loaded machine a reconnect takes seconds. They only end a wait; the
        # verdict reads the broker and the handler's own record.
        poll(lambda: "closed" in cut or not thread.is_alive() or (lost_in_the_middle and queue_emptied()), timeout=20,
             interval=0.2)
        if "closed" in cut:
            stalled = _stalled_after(handled, seconds=12)
            # every job handled is not the end: a copy published again would still wait in the queue
            poll(lambda: not thread.is_alive() or _unexplained_repeats(events) or queue_emptied() or stalled(),
                 timeout=30, interval=0.2)
        ended_by_itself = not thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=10)
    # A function that returned has closed its connection, and the broker drops its consumer at once;
    # 3 s is far above that: a consumer still there is a connection left open.
    still_consuming = not thread.is_alive() and not poll(lambda: queue_counts(queue).consumers == 0, timeout=3, interval=0.1)
    left_open = _close_consumers(api, queue, reason="Closed by the exercise check, after stop")  # unacked jobs come back
    left = queue_counts(queue).messages
    missing = sorted(set(expected) - set(handled))
    extra = _unexplained_repeats(events)
    reconnect = "Wrap it in a loop: on pika.exceptions.AMQPConnectionError (and AMQPChannelError), wait a little and connect again."
    if not lost_in_the_middle:
        if errors:
            return report(False, "", f"Your function raised {_described(errors[0])}.")
        if ended_by_itself:
            return report(False, "", f"Your function returned at once, having handled {len(handled)} jobs: it must "
                                     "consume until stop is set (loop on connection.process_data_events).")
        return report(False, "", f"In 20 s it handled {len(handled)} of {jobs} jobs: does it basic_consume from "
                                 "queue and call handle(body) for each message?")
    if errors:
        return report(False, "", f"After losing its connection, your function ended with {_described(errors[0])}. " + reconnect)
    if thread.is_alive():
        return report(False, "", "Your function did not return within 10 s of stop being set: check stop in each loop. "
                                 "It still runs in this kernel: restart the kernel (Kernel → Restart) before trying again.")
    if still_consuming:
        return report(False, "", "Your function returned when stop was set, but its connection still consumed from the "
                                 "queue: the broker goes on sending it jobs that nobody handles. Close the connection "
                                 "before returning (connection.close(), or a with block).")
    acks_required = cut.get("ack_modes") or cut.get("modes_at_first_loss") or []
    if ended_by_itself and "closed" not in cut:
        return report(False, "", "Your function returned after losing its connection, before stop was set. " + reconnect)
    if extra:
        return report(False, "", f"{extra[0]} was handled more often than the cut connections explain: its ack never "
                                 "counted (a nack or reject puts it back, and so does an ack with another message's "
                                 "delivery tag, which closes the channel), or a copy of it was published (the broker "
                                 "gives back every job that was not acked: never publish one again). Ack each job "
                                 "once, after handle(body), with channel.basic_ack(method.delivery_tag).")
    if not acks_required:
        return report(False, "", f"The broker lists no consumer on '{queue}': take the jobs with basic_consume.")
    if not all(acks_required):
        return report(False, "", "The broker sent the jobs with auto_ack=True: it forgot each job as it sent it, so a "
                                 "worker that dies loses every job in its hands. Ack each job after handle(body) instead.")
    if "closed" not in cut:
        return report(False, "", f"After losing its connection in the middle of {lost_in_the_middle[0]}, your function "
                                 f"handled only {len(handled)} jobs in 20 s: connect again and consume.")
    if ended_by_itself and missing:
        return report(False, "", "Your function returned after losing its connection, before stop was set. " + reconnect)
    if lost_in_the_middle[0] in missing and not left:
        return report(False, "", f"{lost_in_the_middle[0]}, lost in the middle of handle(body), never came back: it had been "
                                 "acknowledged before its work was done. Ack after handle(body), never before.")
    if missing and not left:
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled, and the queue is empty: they were lost "
                                 f"(first: {missing[0]}). Take them with basic_consume and ack each after handle(body).")
    if missing and cut.get("consuming_again"):
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled and {left} still wait in the queue: "
                                 "your function took jobs again after the cut, then no more. The broker sends a consumer "
                                 "no more unacknowledged jobs than its prefetch: ack each job after handle(body).")
    if missing:
        return report(False, "", f"{len(missing)} of {jobs} jobs were never handled and {left} still wait in the queue: "
                                 "after the cut, did your function connect and consume again?")
    if left:
        still = (f" ({left_open} connection(s) still consumed from the queue after stop: close yours when stop is set)"
                 if left_open else "")
        return report(False, "", f"Every job was handled, but {left} were never acknowledged{still}: they are back in the "
                                 "queue. Call channel.basic_ack(method.delivery_tag) after handle(body), with the tag "
                                 "of that message.")
    again = len(handled) - len(set(handled))
    report(True, f"All {jobs} jobs handled and acked, {lost_in_the_middle[0]} (lost in the middle) included, through two "
                 f"lost connections; {again} done twice (a job whose ack went with the connection comes back), and the "
                 "queue is empty: nothing lost.", "")


LONG_JOB_SECONDS = {"job-a": 4.0, "job-b": 1.0, "job-c": 1.0}  # 30 s jobs, time compressed: longer than two 1 s heartbeats
LONG_JOB_COUNT = 2  # the count run_long_jobs is given: job-c must be left in the queue


def _with_calls_recorded(connection, ack_threads, consumes):
    """Make ``connection.channel()`` give channels that note the thread each ``basic_ack`` was
    called from (a BlockingConnection belongs to one thread, acks included), and, for each
    ``basic_consume``, its auto_ack and the prefetch set before it: the channel's own record, for
    when the management API has not listed the consumer before it was gone."""
    open_channel = connection.channel

    def channel(*args, **kwargs):
        opened = open_channel(*args, **kwargs)
        basic_ack, basic_qos, basic_consume = opened.basic_ack, opened.basic_qos, opened.basic_consume
        prefetch = [0]

        def recorded_ack(*ack_args, **ack_kwargs):
            ack_threads.add(threading.current_thread().name)
            return basic_ack(*ack_args, **ack_kwargs)

        def recorded_qos(*qos_args, **qos_kwargs):
            prefetch[0] = qos_kwargs.get("prefetch_count", qos_args[1] if len(qos_args) > 1 else 0)
            return basic_qos(*qos_args, **qos_kwargs)

        def recorded_consume(*consume_args, **consume_kwargs):
            auto_ack = consume_kwargs.get("auto_ack", consume_args[2] if len(consume_args) > 2 else False)
            consumes.append({"prefetch_count": prefetch[0], "ack_required": not auto_ack})
            return basic_consume(*consume_args, **consume_kwargs)
        opened.basic_ack, opened.basic_qos, opened.basic_consume = recorded_ack, recorded_qos, recorded_consume
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
    after its work, from the connection's own thread. The queue holds three jobs and count is 2:
    it returns after exactly two, with no job's work still running and its consumer gone (the
    broker's count), and the third job is back in the queue once the connection closes."""
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
    done, running, overlapped, at_return = [], [], [], {}
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
    consumes = []
    _with_calls_recorded(compressed, ack_threads, consumes)
    def run_then_look(*args):
        """The learner's function, then, the moment it returns, what it left running (from its own
        record) and whether the queue still has a consumer (from the broker)."""
        try:
            run_long_jobs(*args)
        finally:
            at_return.update(done=list(done), running=list(running))
            try:
                at_return["consumers"] = queue_counts(queue).consumers
            except Exception:  # noqa: BLE001 - a queue deleted by the answer: the verdict says so
                at_return["consumers"] = None

    thread, errors = run_in_thread(run_then_look, compressed, queue, do_job, LONG_JOB_COUNT)
    still_running = True
    try:
        give_up_at = time.monotonic() + 12  # about twice what a right answer takes
        while thread.is_alive() and time.monotonic() < give_up_at:
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
    left = queue_counts(queue).messages
    if not prefetches and consumes:  # the management API did not list the consumer while it ran (a loaded machine)
        prefetches = {consume["prefetch_count"] for consume in consumes}
        acks_required = {consume["ack_required"] for consume in consumes}
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
    if at_return.get("running"):
        return report(False, "", f"run_long_jobs returned while {at_return['running'][0]} was still being done: return "
                                 "only once count jobs are done and their acks sent, so no work is left behind.")
    asked = sorted(LONG_JOB_SECONDS)[:LONG_JOB_COUNT]
    if len(done) > LONG_JOB_COUNT:
        return report(False, "", f"run_long_jobs did {len(done)} jobs ({', '.join(done)}), and count was {LONG_JOB_COUNT}: "
                                 "the queue held one more. Stop after count jobs.")
    if len(done) != len(set(done)) or sorted(done) != asked:
        return report(False, "", f"The jobs were done as {done}: each of {asked} should be done once (count was "
                                 f"{LONG_JOB_COUNT}).")
    if at_return.get("consumers"):
        return report(False, "", "run_long_jobs returned with its consumer still on the queue: the broker goes on handing "
                                 "it jobs that nobody works on. Close the channel (or basic_cancel) before returning.")
    if left < len(LONG_JOB_SECONDS) - LONG_JOB_COUNT:
        return report(False, "", "The job after the count is gone from the queue, and was never done: it was acked "
                                 "without its work. Ack only the jobs you have done.")
    if left > len(LONG_JOB_SECONDS) - LONG_JOB_COUNT:
        return report(False, "", f"{', '.join(asked)} were done, but {left - 1} of them went back to the queue once the "
                                 "connection closed: never acknowledged. Ack each job after its work, with its own "
                                 "delivery tag, through connection.add_callback_threadsafe.")
    report(True, f"Heartbeat {heartbeat} s, prefetch 1, and a 4 s job on a 1 s heartbeat: {LONG_JOB_COUNT} jobs done once "
                 "and acked, the connection kept open, the consumer stopped and the third job left in the queue.", "")
