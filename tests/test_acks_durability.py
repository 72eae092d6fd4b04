"""Lessons 05 and 06 against the real broker: dedupe, a crash after the work, batch confirms,
the exercise checks, and a real restart (this one restarts the broker the tests run against)."""

import json
import time

import pandas as pd
import pika
import pytest

from helpers.ops import broker
from helpers.amqp import connect, declare_queue, publish
from helpers.checks import check_ack_after_work, check_publish_safely, check_survives_restart
from helpers.lab.confirms import publish_in_batches
from helpers.errors import CourseError
from helpers.lesson import start_lesson
from helpers.lab.worker import DoneIds
from helpers.lab.workers import WorkerPool, account_for, make_jobs, publish_jobs
from limits import NEVER_HANGS


def message_count(queue):
    with connect(name="pytest-count") as connection:
        return connection.channel().queue_declare(queue, passive=True).method.message_count


def run_with_a_crash_after_work(channel, api, queue, dedupe):
    """Three jobs; the first worker dies after its first job's work, before acking it."""
    jobs = make_jobs(3, durations=[0.1])
    publish_jobs(channel, queue, jobs)
    api.wait_for_queue(queue, messages=3)
    crashing = WorkerPool(queue, name="crashing", crash_after_work=1, dedupe=dedupe)
    crashing.wait_for_jobs(1, timeout=10)
    with WorkerPool(queue, dedupe=crashing.dedupe_file) as pool:
        api.wait_for_queue(queue, messages=0, timeout=15)
    table = account_for(jobs, pd.concat([crashing.report(), pool.report()]), duplicates=True).set_index("job_id")
    assert not crashing.alive()
    crashing.cleanup()
    pool.cleanup()
    return table


# -- lesson 05: at-least-once, and dedupe ------------------------------------------------------
def test_a_crash_after_the_work_makes_a_job_run_twice_without_dedupe(channel, api, queue_name):
    declare_queue(channel, queue_name)
    table = run_with_a_crash_after_work(channel, api, queue_name, dedupe=False)
    assert table.loc["job-001", "done"] == 2
    assert table.loc["job-001", "done_by"] == "crashing-1, worker-1"
    assert table.loc["job-001", "redelivered"]
    assert table.duplicates_skipped.sum() == 0


def test_a_worker_with_dedupe_does_not_do_a_job_twice(channel, api, queue_name):
    declare_queue(channel, queue_name)
    table = run_with_a_crash_after_work(channel, api, queue_name, dedupe=True)
    assert table.done.tolist() == [1, 1, 1]
    assert table.loc["job-001", "done_by"] == "crashing-1"
    assert table.loc["job-001", "duplicates_skipped"] == 1
    assert table.duplicates_skipped.sum() == 1


def test_done_ids_are_shared_through_one_file(tmp_path):
    path = tmp_path / "done-ids.txt"
    first, second = DoneIds(path), DoneIds(path)
    assert not second.seen("job-001")
    first.remember("job-001")
    assert second.seen("job-001") and not second.seen("job-01") and not second.seen(None)


def test_without_dedupe_the_report_has_no_duplicate_column(channel, api, queue_name):
    declare_queue(channel, queue_name)
    jobs = make_jobs(2, durations=[0.05])
    publish_jobs(channel, queue_name, jobs)
    with WorkerPool(queue_name) as pool:
        pool.wait_for_jobs(2, timeout=10)
    assert list(account_for(jobs, pool.report()).columns) == ["job_id", "task", "started", "done", "done_by", "redelivered"]
    assert pool.done_ids() == []
    pool.cleanup()


# -- lesson 06: publisher confirms in batches ------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_publish_in_batches_gets_every_message_confirmed(channel, queue_name, batch_size):
    declare_queue(channel, queue_name)
    result = publish_in_batches(queue_name, [{"n": n} for n in range(50)], batch_size=batch_size)
    assert (result.published, result.confirmed, result.nacked) == (50, 50, 0)
    assert result.waits == -(-50 // batch_size)  # once a batch: 50, 8 and 1 waits for the broker
    assert result.per_second > 0
    assert message_count(queue_name) == 50
    with connect(name="pytest") as connection:
        method, properties, body = connection.channel().basic_get(queue_name, auto_ack=True)
    assert json.loads(body) == {"n": 0} and properties.delivery_mode == 2


def test_publish_in_batches_fails_in_one_line_when_the_broker_is_unreachable(monkeypatch):
    monkeypatch.setenv("AMQP_URL", "amqp://devuser:devpassword@127.0.0.1:1/")
    started = time.monotonic()
    with pytest.raises(CourseError, match="Could not connect"):
        publish_in_batches("anything", ["x"], timeout=5)
    assert time.monotonic() - started < NEVER_HANGS


def test_publish_in_batches_refuses_an_empty_batch():
    with pytest.raises(CourseError):
        publish_in_batches("anything", ["x"], batch_size=0)


# -- the exercise checks: right answers pass, wrong ones say what is wrong ----------------------
def ack_after_work(channel, method, body, work):
    work(json.loads(body))
    channel.basic_ack(method.delivery_tag)


def ack_before_work(channel, method, body, work):
    channel.basic_ack(method.delivery_tag)
    work(json.loads(body))


def never_ack(channel, method, body, work):
    work(json.loads(body))


def test_check_ack_after_work(capsys):
    check_ack_after_work(ack_after_work)
    assert capsys.readouterr().out.startswith("✅")
    for wrong in (ack_before_work, never_ack):
        check_ack_after_work(wrong)
        assert capsys.readouterr().out.startswith("❌")


@pytest.mark.parametrize("durable_queue, persistent, verdict", [(True, True, "✅"), (True, False, "❌"), (False, True, "❌")])
def test_check_survives_restart(channel, queue_name, capsys, durable_queue, persistent, verdict):
    channel.queue_declare(queue_name, durable=durable_queue, exclusive=not durable_queue)
    for text in ["a", "b", "c"]:
        publish(channel, queue_name, text, persistent=persistent)
    check_survives_restart(queue_name, messages=3)
    channel.queue_delete(queue_name)  # an exclusive queue can be deleted only by its own connection
    assert capsys.readouterr().out.startswith(verdict)


def safe(channel, exchange, routing_key, body):
    try:
        publish(channel, routing_key, body, exchange=exchange, persistent=True, mandatory=True)
    except pika.exceptions.UnroutableError:
        return False
    return True


def without_mandatory(channel, exchange, routing_key, body):
    publish(channel, routing_key, body, exchange=exchange, persistent=True)
    return True


def transient(channel, exchange, routing_key, body):
    try:
        publish(channel, routing_key, body, exchange=exchange, persistent=False, mandatory=True)
    except pika.exceptions.UnroutableError:
        return False
    return True


def lets_the_error_out(channel, exchange, routing_key, body):
    publish(channel, routing_key, body, exchange=exchange, mandatory=True, persistent=True)
    return True


@pytest.mark.parametrize("function, verdict", [(safe, "✅"), (without_mandatory, "❌"), (transient, "❌"), (lets_the_error_out, "❌")])
def test_check_publish_safely(capsys, function, verdict):
    check_publish_safely(function)
    out = capsys.readouterr().out
    assert out.startswith(verdict), out


# -- lesson 06: a real restart -----------------------------------------------------------------
@pytest.fixture(scope="module")
def restarted():
    """Queues and a reconnecting worker pool set up, the broker restarted once, what followed."""
    names = {"persistent": "test-restart-persistent", "transient": "test-restart-transient", "jobs": "test-restart-jobs"}
    lesson = start_lesson(queues=list(names.values()), name="pytest-restart")
    channel = lesson.channel
    for name in names.values():
        declare_queue(channel, name)
    exclusive = declare_queue(channel, "", durable=False, exclusive=True)
    for number in range(5):
        publish(channel, names["persistent"], f"p{number}", persistent=True)
        publish(channel, names["transient"], f"t{number}", persistent=False)
        publish(channel, exclusive, f"e{number}", persistent=True)
    # In two phases, so that the workers have work both before and after the restart, whatever the timing:
    # the first jobs are under way when the broker stops; the rest are published once every worker is back.
    jobs = make_jobs(26, durations=[0.2])
    before, after = jobs[:20], jobs[20:]
    publish_jobs(channel, names["jobs"], before)
    pool = WorkerPool(names["jobs"], count=2, dedupe=True, reconnect=60)
    pool.wait_for_jobs(4, timeout=20)
    broker.restart()
    pool.wait_until_reconnected(timeout=60)
    channel = lesson.reconnect(name="pytest-restart")
    publish_jobs(channel, names["jobs"], after)
    pool.wait_for_jobs(len(jobs), timeout=60)
    pool.stop()
    counts = {}
    for kind, name in [*names.items(), ("exclusive", exclusive)]:
        probe = lesson.connection.channel()
        try:
            counts[kind] = probe.queue_declare(name, passive=True).method.message_count
            probe.close()
        except pika.exceptions.ChannelClosedByBroker as error:
            counts[kind] = error.reply_code  # 404: no such queue
    yield {"counts": counts, "pool": pool, "jobs": jobs}
    lesson.clean(queues=list(names.values()))
    lesson.close()
    pool.cleanup()


def test_a_restart_keeps_a_durable_queue_and_its_persistent_messages(restarted):
    assert restarted["counts"]["persistent"] == 5


def test_a_restart_drops_transient_messages_and_exclusive_queues(restarted):
    assert restarted["counts"]["transient"] == 0
    assert restarted["counts"]["exclusive"] == 404


def test_reconnecting_workers_finish_every_job_once_across_a_restart(restarted):
    pool, jobs = restarted["pool"], restarted["jobs"]
    table = account_for(jobs, pool.report(), duplicates=True)
    assert (table.done == 1).all()
    events = pool.events()
    assert not (events.event == "error").any()
    assert restarted["counts"]["jobs"] == 0
    for worker, own in events.groupby("worker"):
        kinds = own.event.tolist()
        assert kinds.count("disconnected") == 1, (worker, kinds)  # each worker lost its connection once...
        lost = kinds.index("disconnected")
        assert kinds.count("consuming") == 2 and "consuming" in kinds[lost:], (worker, kinds)  # ...subscribed again...
        assert "done" in kinds[lost:], (worker, kinds)  # ...and did work after the restart


def close_worker_connection(api, worker, timeout=15):
    """Close a worker's connection from the broker's side (as the management UI's button does)."""
    api.close_connection(worker, timeout=timeout)


def test_a_worker_without_reconnect_stops_when_its_connection_is_lost(channel, api, queue_name):
    declare_queue(channel, queue_name)
    pool = WorkerPool(queue_name)
    close_worker_connection(api, "worker-1")
    pool.processes["worker-1"].wait(timeout=10)
    assert not pool.alive()
    assert (pool.events().event == "disconnected").sum() == 0
    pool.cleanup()


def test_a_worker_with_reconnect_goes_on_after_its_connection_is_closed(channel, api, queue_name):
    declare_queue(channel, queue_name)
    pool = WorkerPool(queue_name, reconnect=10)
    close_worker_connection(api, "worker-1")
    jobs = make_jobs(3, durations=[0.05])
    publish_jobs(channel, queue_name, jobs)
    pool.wait_for_jobs(3, timeout=15)
    pool.stop()
    events = pool.events().event.tolist()
    assert events.count("disconnected") == 1 and events.count("consuming") == 2 and events[-1] == "stopped"
    pool.cleanup()
