"""Exercise checks: each says in plain words what is right, or what is still wrong.

A check prints one line, starting with a tick or a cross, and returns nothing (so a notebook
shows just that line); it never raises, so a learner can try again. Lesson-specific checks are built on ``report``.

Introduced in lesson 00.
"""

from .errors import CourseError
from .management import management_api


def report(ok, praise, problem):
    """Print ``praise`` (if ok) or ``problem``, marked so a glance tells which."""
    print(f"✅ {praise}" if ok else f"❌ {problem}")


def queue_or_none(name):
    try:
        return management_api().queue(name)
    except CourseError:
        return None


def check_queue(name, durable=None, messages=None, arguments=None, wait=5.0):
    """Does queue ``name`` exist, with these settings and this many messages?"""
    queue = queue_or_none(name)
    if queue is None:
        return report(False, "", f"There is no queue named '{name}' yet: declare it (channel.queue_declare).")
    if durable is not None and queue.get("durable") != durable:
        word = "durable" if durable else "not durable"
        return report(False, "", f"Queue '{name}' should be {word}: delete it and declare it again with durable={durable}.")
    for key, value in (arguments or {}).items():
        if queue.get("arguments", {}).get(key) != value:
            return report(False, "", f"Queue '{name}' should have the argument {key}={value!r} (it has {queue.get('arguments', {})}).")
    if messages is not None:
        try:
            queue = management_api().wait_for_queue(name, timeout=wait, messages=messages)
        except CourseError:
            have = queue_or_none(name).get("messages", 0)
            return report(False, "", f"Queue '{name}' holds {have} message(s); it should hold {messages}.")
    report(True, f"Queue '{name}' is as it should be.", "")


def check_received(received, expected, queue="the queue"):
    """Were exactly the ``expected`` message texts received, in that order?"""
    if list(received) == list(expected):
        return report(True, f"You received {len(expected)} message(s), in the order they were sent.", "")
    if not received:
        return report(False, "", f"Nothing was received: is {queue} empty? Publish the messages first, then drain it.")
    if sorted(received) == sorted(expected):
        return report(False, "", f"The right messages, in another order: {received}. A queue hands them out first in, first out.")
    report(False, "", f"You received {received}; expected {expected}.")


def check_broker_version(version):
    """Lesson 00: is ``version`` the version the broker itself reports?"""
    actual = management_api().overview().get("rabbitmq_version")
    if version == actual:
        return report(True, f"Right: this broker runs RabbitMQ {actual}.", "")
    return report(False, "", f"{version!r} is not it. Look for the key 'rabbitmq_version' in lesson.api.overview().")


def check_enabled_plugins(plugins):
    """Lesson 00: does ``plugins`` list exactly the plugins enabled on the broker's node?"""
    node = management_api().get("nodes")[0]
    actual = sorted(node.get("enabled_plugins", []))
    if sorted(plugins or []) == actual:
        return report(True, f"Right: {', '.join(actual)}.", "")
    return report(False, "", f"{plugins!r} is not the list. Each row of lesson.api.nodes() has a column 'enabled_plugins'.")


def check_binding(exchange, queue, routing_key):
    """Lesson 01: is ``queue`` bound to ``exchange`` with ``routing_key``?"""
    bindings = management_api().bindings()
    mine = bindings[(bindings.source == exchange) & (bindings.destination == queue)]
    if routing_key in set(mine.routing_key):
        return report(True, f"'{exchange}' routes '{routing_key}' to '{queue}'.", "")
    if mine.empty:
        return report(False, "", f"'{queue}' is not bound to '{exchange}' at all: channel.queue_bind(queue=..., exchange=..., routing_key=...).")
    return report(False, "", f"'{queue}' is bound to '{exchange}' with {sorted(mine.routing_key)}, not with '{routing_key}'.")


def check_dead_lettering(queue, dlq, wait=5.0):
    """Do messages rejected (without requeue) from ``queue`` end up in ``dlq``? Introduced in lesson 09.

    Checks the arguments, then sends a test message through: it is rejected from ``queue`` and
    looked for in ``dlq`` (and taken out of it again), so the check proves the routing works.
    """
    from .dead_letters import probe_dead_lettering

    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    arguments = found.get("arguments", {}) or {}
    if "x-dead-letter-exchange" not in arguments:
        return report(False, "", f"Queue '{queue}' has no x-dead-letter-exchange argument, so the broker drops what is rejected. "
                                 "Delete it and declare it again with one.")
    if queue_or_none(dlq) is None:
        return report(False, "", f"There is no queue named '{dlq}' yet: declare it and bind it to the dead-letter exchange.")
    outcome, death = probe_dead_lettering(queue, dlq, wait=wait)
    if outcome == "not empty":
        return report(False, "", f"Queue '{queue}' holds messages: empty it first (drain), the check sends a test message through it.")
    if outcome == "lost":
        exchange = arguments.get("x-dead-letter-exchange")
        return report(False, "", f"A message rejected from '{queue}' did not reach '{dlq}' within {wait:g} s: does the exchange "
                                 f"'{exchange}' exist and route to '{dlq}' (a binding, or x-dead-letter-routing-key)?")
    if death.get("reason") != "rejected" or death.get("queue") != queue:
        return report(False, "", f"A message reached '{dlq}', but its x-death says {death}, not reason 'rejected' from '{queue}'.")
    report(True, f"A message rejected from '{queue}' arrived in '{dlq}' with x-death reason 'rejected'.", "")


def check_kept_newest(queue, published, limit):
    """Does ``queue`` hold at most ``limit`` messages and keep the newest of ``published``? Introduced in lesson 09."""
    from .dead_letters import peek

    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it.")
    arguments = found.get("arguments", {}) or {}
    if arguments.get("x-max-length") != limit:
        return report(False, "", f"Queue '{queue}' should have x-max-length={limit} (its arguments: {arguments}).")
    overflow = arguments.get("x-overflow", "drop-head")
    if overflow != "drop-head":
        return report(False, "", f"With x-overflow='{overflow}' a full queue refuses new messages and keeps the oldest: "
                                 "the mode that drops the oldest is 'drop-head'.")
    expected = [str(text) for text in list(published)[-limit:]]
    try:
        management_api().wait_for_queue(queue, timeout=5.0, messages=len(expected))
    except CourseError:
        pass
    kept = [message["text"] for message in peek(queue, count=limit + 5)]
    if kept != expected:
        return report(False, "", f"Queue '{queue}' holds {kept}; it should hold the newest {limit}: {expected}.")
    report(True, f"Queue '{queue}' keeps the newest {limit} messages: {expected}.", "")


def check_routing(table, expected):
    """Did each message reach exactly the queues ``expected`` says? Introduced in lesson 07.

    ``table`` is a ``helpers.routing.route_table``; ``expected`` maps each message (its row
    label) to the queues it should reach (an empty list: no queue).
    """
    from .routing import routes

    if table is None or not hasattr(table, "index"):
        return report(False, "", "Pass the table that route_table(...) returned.")
    got = routes(table)
    missing = [message for message in expected if message not in got]
    if missing:
        return report(False, "", f"No row for {missing} in the table: publish these messages with route_table(...).")
    for message, queues in expected.items():
        want = set(queues)
        have = got[message] - {"returned (no queue)"}
        if have != want:
            extra, absent = sorted(have - want), sorted(want - have)
            details = []
            if absent:
                details.append(f"did not reach {absent}")
            if extra:
                details.append(f"also reached {extra}")
            return report(False, "", f"'{message}' {' and '.join(details)}. Look at the binding keys of those queues.")
    report(True, f"All {len(expected)} messages reached exactly the queues they should.", "")


def check_order_total(total, order):
    """Is ``total`` the sum of the price quotes of ``order`` (a list of (item, quantity))? Introduced in lesson 08."""
    from .rpc import quote

    answers = [quote({"item": item, "quantity": quantity}) for item, quantity in order]
    expected = round(sum(answer.get("total", 0) for answer in answers), 2)
    if total is None:
        return report(False, "", "order_total is None: add up the 'total' of each reply.")
    if not isinstance(total, (int, float)):
        return report(False, "", f"order_total should be a number, not {type(total).__name__}: add up reply['total'].")
    if round(total, 2) == expected:
        return report(True, f"The order comes to {expected:.2f} €, from {len(answers)} quotes.", "")
    report(False, "", f"order_total is {total}, the quotes add up to {expected:.2f}: one call per line of the order, then sum the totals.")


def check_gave_up(error, queue="rpc_queue"):
    """Did the call end with an RpcTimeout while no server consumed ``queue``? Introduced in lesson 08."""
    from .rpc import RpcTimeout

    if queue_or_none(queue) is not None:
        try:
            management_api().wait_for_queue(queue, timeout=3.0, consumers=0)
        except CourseError:
            return report(False, "", f"A server still consumes '{queue}': stop it first (server.stop()).")
    if error is None:
        return report(False, "", "No error was caught: the call returned. Catch RpcTimeout and keep it in `error`.")
    if not isinstance(error, RpcTimeout):
        return report(False, "", f"The call failed with {type(error).__name__}, not RpcTimeout: {error}")
    report(True, "The client gave up on its own, with a clear message, instead of waiting forever.", "")


def ready_count(queue, expected, wait=2.0):
    """The ready messages of ``queue`` from the broker itself (a passive declare, no statistics lag),
    read again for up to ``wait`` seconds while fewer than ``expected`` (a publish may be on its way)."""
    import time

    from .amqp import connect

    stop_at = time.monotonic() + wait
    with connect(name="check") as connection:
        channel = connection.channel()
        while True:
            count = channel.queue_declare(queue, passive=True).method.message_count
            if count >= expected or time.monotonic() > stop_at:
                return count
            time.sleep(0.05)


def check_jobs_waiting(queue, jobs, wait=5.0):
    """Lesson 03: does durable ``queue`` hold exactly ``jobs``, as persistent messages, with no consumer?"""
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}' yet: declare it durable (channel.queue_declare(queue='{queue}', durable=True)).")
    if not found.get("durable"):
        return report(False, "", f"Queue '{queue}' is not durable: delete it and declare it again with durable=True.")
    if found.get("consumers", 0):
        return report(False, "", f"Queue '{queue}' has {found.get('consumers')} consumer(s) taking the jobs: stop the workers first.")
    have = ready_count(queue, len(jobs), wait=min(wait, 2.0))
    if have != len(jobs):
        hint = "publish them (publish_jobs)" if have < len(jobs) else "it holds more: were they published twice? Purge it (channel.queue_purge) and publish once"
        return report(False, "", f"Queue '{queue}' holds {have} message(s), not the {len(jobs)} jobs: {hint}.")
    api = management_api()
    try:
        found = api.wait_for_queue(queue, timeout=wait, messages=len(jobs))
    except CourseError:
        found = {}  # the statistics are late: the count above came from the broker itself
    if "messages_persistent" in found:  # not on every broker version; where it is, it may lag a second behind
        try:
            api.wait_for_queue(queue, timeout=wait, messages=len(jobs), messages_persistent=len(jobs))
        except CourseError:
            persistent = (queue_or_none(queue) or {}).get("messages_persistent", 0)
            return report(False, "", f"Only {persistent} of the {len(jobs)} messages are persistent: publish with "
                                     "delivery_mode=Persistent (publish(..., persistent=True)) so they survive a restart.")
    report(True, f"Queue '{queue}' holds the {len(jobs)} jobs as persistent messages, waiting for a worker.", "")


def check_every_job_done_once(jobs, report_frame, workers=None):
    """Lesson 03: was every job of ``jobs`` done exactly once (a ``WorkerPool.report()``)? With
    ``workers``, did that many workers each do some?"""
    from .workers import account_for

    if report_frame is None or report_frame.empty:
        return report(False, "", "The report is empty: start the workers (WorkerPool) and wait for the jobs (wait_for_jobs).")
    accounted = account_for(jobs, report_frame)
    missing = list(accounted.job_id[accounted.done == 0])
    twice = list(accounted.job_id[accounted.done > 1])
    if missing:
        return report(False, "", f"{len(missing)} job(s) were never done: {', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}. "
                                 "Wait for all of them (pool.wait_for_jobs(len(jobs), timeout=...)) before you look.")
    if twice:
        return report(False, "", f"Done more than once: {', '.join(twice[:5])}. Were the jobs published twice?")
    done = report_frame[report_frame.event == "done"]
    if workers is not None and done.worker.nunique() != workers:
        return report(False, "", f"{done.worker.nunique()} worker(s) did jobs, not {workers}: start a pool of {workers} (WorkerPool(..., count={workers})).")
    by = f", shared by {workers} workers" if workers is not None and workers > 1 else ""
    report(True, f"All {len(jobs)} jobs were done exactly once{by}.", "")


# A round trip to the broker and back: well under a millisecond on one machine, about one across
# a network. Jobs much longer than that gain nothing from a larger prefetch.
LONG_JOB_SECONDS = 0.01


def check_prefetch_choice(jobs, prefetch):
    """Lesson 04: is ``prefetch`` a good prefetch_count for workers doing ``jobs``? Says why (not)."""
    durations = [float(job["duration"]) for job in jobs]
    mean, longest = sum(durations) / len(durations), max(durations)
    if not isinstance(prefetch, int) or prefetch < 0:
        return report(False, "", f"prefetch_count is a whole number, 0 or more; {prefetch!r} is not.")
    if prefetch == 0:
        return report(False, "", "0 means no limit: the broker pushes every job out at once, round-robin, whoever is busy, and "
                                 "each worker holds its share in memory. Set a limit.")
    if mean >= LONG_JOB_SECONDS:
        if prefetch == 1:
            return report(True, f"Prefetch 1: these jobs take {mean:.2g} s on average (up to {longest:g} s), far longer than a "
                                "round trip to the broker, so a worker loses nothing by asking for one at a time, and no job "
                                "waits behind a long one while another worker is free.", "")
        return report(False, "", f"With prefetch {prefetch}, a worker busy with a {longest:g} s job holds {prefetch - 1} more that "
                                 "a free worker could be doing. These jobs are long next to a round trip to the broker (about a "
                                 "millisecond): take them one at a time.")
    if prefetch == 1:
        return report(False, "", f"These jobs take {mean * 1000:.2g} ms, about as long as a round trip to the broker: with "
                                 "prefetch 1 a worker waits for that round trip after every job. Let it hold more.")
    if prefetch < 10:
        return report(False, "", f"Prefetch {prefetch} helps, but with jobs of {mean * 1000:.2g} ms a worker still waits for the "
                                 "broker often. Tens to a few hundred keep it busy.")
    if prefetch > 1000:
        return report(False, "", f"Prefetch {prefetch} keeps thousands of jobs in one worker's memory, where no other worker can "
                                 "take them, for little more speed than a few hundred.")
    report(True, f"Prefetch {prefetch}: jobs of {mean * 1000:.2g} ms are as short as a round trip to the broker, so "
                 f"a worker keeps up to {prefetch} in hand and never waits for the next one.", "")


def check_fair_shares(jobs, report_frame, slack=0.3):
    """Lesson 04: was every job done once, and did no worker end up with much more busy time than
    another (a difference of at most the longest job, plus ``slack`` seconds)?"""
    from .workers import account_for, busy_time

    if report_frame is None or report_frame.empty:
        return report(False, "", "The report is empty: start the workers (WorkerPool) and wait for the jobs (wait_for_jobs).")
    accounted = account_for(jobs, report_frame)
    if not (accounted.done == 1).all():
        return report(False, "", f"Not every job was done exactly once ({int((accounted.done == 0).sum())} missing, "
                                 f"{int((accounted.done > 1).sum())} twice): wait for all of them, and publish them once.")
    busy = busy_time(report_frame)
    longest = max(float(job["duration"]) for job in jobs)
    spread = busy.max() - busy.min()
    if len(busy) < 2:
        return report(False, "", "Only one worker did jobs: start a pool of two or more.")
    if spread > longest + slack:
        return report(False, "", f"Unfair: one worker was busy {busy.max():.1f} s, another {busy.min():.1f} s. Jobs went out "
                                 "round-robin whoever was busy: give each worker one job at a time (prefetch=1).")
    report(True, f"Fair: the workers' busy times differ by {spread:.1f} s, no more than the longest job ({longest:g} s).", "")


def check_queue_depths(depths, queues, wait=5.0):
    """Does ``depths`` ({queue: messages}, e.g. read from Prometheus) match the management API? (lesson 10)"""
    if not isinstance(depths, dict) or not depths:
        return report(False, "", "`depths` should be a dict such as {'monitor.tasks': 0, ...}: one entry a queue.")
    missing = [name for name in queues if name not in depths]
    if missing:
        return report(False, "", f"`depths` has no entry for {', '.join(missing)}: keep only samples with a 'queue' label.")
    api = management_api()
    wrong = {}
    for name in queues:
        try:
            api.wait_for_queue(name, timeout=wait, messages=int(depths[name]))
        except CourseError:
            queue = queue_or_none(name) or {}
            wrong[name] = (depths[name], queue.get("messages"))
    if wrong:
        described = "; ".join(f"{name}: yours {have}, the API's {api_has}" for name, (have, api_has) in wrong.items())
        return report(False, "", f"Some depths differ from the management API ({described}). Did you read "
                                 "rabbitmq_queue_messages (not _ready) from /metrics/per-object?")
    report(True, f"Prometheus and the management API agree on the depth of {len(queues)} queue(s).", "")


def check_alert_rule(rule, firing_on=(), quiet_on=(), cases=()):
    """Does an AlertRule fire on ``firing_on`` queues and stay quiet on ``quiet_on`` (live), and give
    the expected answer for each ``(queue dict, should_fire)`` in ``cases``? (lesson 10)"""
    import pandas

    from .alerts import AlertRule
    from .metrics import SAMPLE_COLUMNS

    if not isinstance(rule, AlertRule):
        return report(False, "", "`rule` should be an AlertRule(name, measure, threshold, message).")
    empty = pandas.DataFrame(columns=SAMPLE_COLUMNS)
    live = [(queue_or_none(name) or {"name": name}, True) for name in firing_on] + \
           [(queue_or_none(name) or {"name": name}, False) for name in quiet_on]
    for queue, should_fire in [*live, *cases]:
        try:
            firing, value, _ = rule.check(empty, {"name": "example", **queue})
        except Exception as error:  # the learner's measure function failed: say so in one line
            return report(False, "", f"The rule's measure failed on {queue.get('name', 'a queue')}: {type(error).__name__}: {error}")
        if firing != should_fire:
            figures = f"messages={queue.get('messages', 0)}, consumers={queue.get('consumers', 0)}"
            verb = "should fire but stays quiet" if should_fire else "fires but should stay quiet"
            return report(False, "", f"'{rule.name}' {verb} on {queue.get('name', 'a queue')} ({figures}; value {value:g}, threshold {rule.threshold:g}).")
    report(True, f"'{rule.name}' fires where it should and stays quiet elsewhere ({len(live) + len(cases)} cases).", "")


def check_ack_after_work(handle, queue="check-ack-after-work"):
    """Lesson 05: does ``handle(channel, method, body, work)`` acknowledge a job only after
    ``work(job)`` succeeded? It gets two jobs on a real queue; the second one's work fails."""
    import json

    import pika

    from .amqp import connect, publish

    done, errors = [], []

    def work(job):
        if job.get("fail"):
            raise RuntimeError(f"{job['job_id']} failed")
        done.append(job["job_id"])

    with connect(name="check") as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True)
        publish(channel, queue, {"job_id": "job-ok", "task": "send-email"})
        publish(channel, queue, {"job_id": "job-fails", "task": "resize-image", "fail": True})
        for _ in range(2):
            try:
                method, _properties, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                handle(channel, method, body, work)
            except pika.exceptions.AMQPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                break
            except Exception:  # the failing job's error may come out of handle: that is allowed
                pass
    # The connection is closed: every job that was not acknowledged is back in the queue.
    with connect(name="check") as connection:
        channel = connection.channel()
        left = []
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            left.append(json.loads(body)["job_id"])
        channel.queue_delete(queue)
    if errors:
        return report(False, "", f"The broker closed the channel ({errors[0]}): did you acknowledge a message twice?")
    if "job-ok" not in done:
        return report(False, "", "Your function did not call work(job) for the job it was given.")
    if "job-ok" in left:
        return report(False, "", "job-ok was done but never acknowledged: it went back to the queue and would be done again. "
                                 "Call channel.basic_ack(method.delivery_tag) after the work.")
    if "job-fails" not in left:
        return report(False, "", "job-fails failed, yet it is gone from the queue: it was acknowledged (or rejected) although "
                                 "its work did not succeed. Acknowledge only after work(job) returns.")
    report(True, "job-ok was acknowledged after its work; job-fails, whose work failed, is still in the queue.", "")


def check_failed_job_dropped(report_frame, queue, job_id):
    """Lesson 05: was the job ``job_id``, which fails every time, tried once and rejected, while
    every other job of the run was done? ``report_frame`` is ``WorkerPool.report()``."""
    from .amqp import connect

    failed = int(((report_frame.job_id == job_id) & (report_frame.event == "failed")).sum())
    with connect(name="check") as connection:
        waiting = connection.channel().queue_declare(queue, passive=True).method.message_count
    if failed == 0:
        return report(False, "", f"{job_id} never failed: was it published with \"fail\": True, and did the workers run?")
    if failed > 1 or waiting:
        return report(False, "", f"{job_id} failed {failed} times and {waiting} message(s) still wait in '{queue}': requeued, a job "
                                 "that can never succeed comes straight back. Reject it (on_failure=\"reject\").")
    report(True, f"{job_id} failed once and was rejected, so it did not come back; '{queue}' is empty.", "")


def check_survives_restart(queue, messages, wait=5.0):
    """Lesson 06: would queue ``queue`` and its ``messages`` messages survive a broker restart?
    (A durable queue, not exclusive nor auto-delete; persistent messages, unless it is a quorum queue.)"""
    api = management_api()
    found = queue_or_none(queue)
    if found is None:
        return report(False, "", f"There is no queue named '{queue}': declare it first.")
    if not found.get("durable") or found.get("exclusive") or found.get("auto_delete"):
        return report(False, "", f"Queue '{queue}' would not survive a restart: declare it durable=True (not exclusive, not "
                                 "auto-delete). Delete it first (channel.queue_delete) to change that.")
    try:
        api.wait_for_queue(queue, timeout=wait, messages=messages)
    except CourseError:
        have = (queue_or_none(queue) or {}).get("messages", 0)
        return report(False, "", f"Queue '{queue}' holds {have} message(s); it should hold {messages}.")
    peeked = api.request("POST", f"{api.vhost_path('queues', queue)}/get",
                         json={"count": messages, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 100})
    transient = [item for item in peeked or [] if item.get("properties", {}).get("delivery_mode") != 2]
    if transient and found.get("type") != "quorum":
        return report(False, "", f"{len(transient)} of the {messages} messages are transient: a restart would drop them. "
                                 "Publish with delivery_mode=Persistent (publish(..., persistent=True)).")
    report(True, f"Queue '{queue}' is durable and its {messages} messages are persistent: they would survive a restart.", "")


def check_publish_safely(publish_safely, exchange="check-publish-safely"):
    """Lesson 06: does ``publish_safely(channel, exchange, routing_key, body)`` return True only
    when the broker confirmed a persistent message into a queue, and False when no queue took it?"""
    from .amqp import connect

    queue = f"{exchange}-paid"
    with connect(name="check") as connection:
        setup = connection.channel()
        setup.exchange_declare(exchange, exchange_type="direct", durable=True)
        setup.queue_delete(queue)
        setup.queue_declare(queue, durable=True)
        setup.queue_bind(queue, exchange, routing_key="paid")
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            routed = publish_safely(channel, exchange, "paid", b"order 1")
            unrouted = publish_safely(channel, exchange, "no-such-key", b"order 2")
        except Exception as error:  # the learner's function let an error out: say which
            routed = unrouted = error
        if channel.is_open:
            channel.close()
        check = connection.channel()
        kept = check.queue_declare(queue, passive=True).method.message_count
        method, properties, _body = check.basic_get(queue, auto_ack=True)
        check.queue_delete(queue)
        check.exchange_delete(exchange)
    if isinstance(routed, Exception):
        return report(False, "", f"Your function raised {type(routed).__name__}: catch pika.exceptions.UnroutableError and return False.")
    if routed is not True:
        return report(False, "", f"For a message a queue took, your function returned {routed!r}; it should return True.")
    if unrouted is not False:
        return report(False, "", f"For a message no queue takes, your function returned {unrouted!r}. Publish with mandatory=True: "
                                 "without it the broker drops such a message and still confirms it.")
    if kept != 1:
        return report(False, "", f"The queue should hold the one routed message; it holds {kept}.")
    if method is not None and properties.delivery_mode != 2:
        return report(False, "", "The message was confirmed, but it is transient: a restart would drop it. Publish it persistent.")
    report(True, "Confirmed and persistent when a queue takes it (True); returned when none does (False).", "")
