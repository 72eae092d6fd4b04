"""The worker pool's measurements (lessons 03 and 04) and the checks of those lessons, against the real broker.

Timings are never asserted except as lower bounds that sleeping guarantees (a 0.2 s job keeps a
worker busy at least 0.2 s) and generous upper limits on waits.
"""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers.amqp import publish  # noqa: E402
from helpers.charts import plot_grouped_bars, plot_lines, plot_runs, plot_timeline, plot_timelines  # noqa: E402
from helpers.checks import check_prefetch_choice  # noqa: E402
from helpers.errors import CourseError  # noqa: E402
from helpers.lab.workers import (WorkerPool, account_for, best_in_order_time, busy_time, ideal_time,  # noqa: E402
                             job_intervals, make_jobs, publish_jobs, span, wait_for_queued, waits_between_jobs)


def made_report(rows):
    """A report frame like WorkerPool.report(), from (worker, event, job_id, time) rows."""
    return pd.DataFrame([{"worker": w, "event": e, "job_id": j, "task": "send-email", "redelivered": False, "time": t}
                         for w, e, j, t in rows])


# -- measurements on made-up reports: exact numbers ------------------------------------------

def test_busy_time_span_and_intervals_of_a_made_report():
    report = made_report([
        ("w1", "started", "job-001", 10.0), ("w1", "done", "job-001", 10.5),
        ("w2", "started", "job-002", 10.1), ("w2", "done", "job-002", 11.1),
        ("w1", "started", "job-003", 10.6), ("w1", "done", "job-003", 10.8),
        ("w2", "started", "job-004", 11.2),  # killed: never done, not counted
    ])
    assert busy_time(report, workers=["w1", "w2", "w3"]).round(6).to_dict() == {"w1": 0.7, "w2": 1.0, "w3": 0.0}
    assert span(report) == pytest.approx(1.1)
    intervals = job_intervals(report)
    assert list(intervals.job_id) == ["job-001", "job-003", "job-002"]
    assert intervals.start.tolist() == pytest.approx([0.0, 0.6, 0.1])
    assert waits_between_jobs(report).round(6).tolist() == [0.1, 0.1]


def test_ideal_and_best_in_order_times():
    jobs = make_jobs(16, durations=[0.1, 0.1, 0.1, 1.0])
    assert ideal_time(jobs, 4) == pytest.approx(1.3)
    assert best_in_order_time(jobs, 4) == pytest.approx(1.7)  # the last job is long: the queue's order costs 0.4 s
    assert ideal_time(make_jobs(3, durations=[2.0]), 4) == pytest.approx(2.0)  # never less than the longest job
    assert best_in_order_time(make_jobs(8, durations=[0.5]), 2) == pytest.approx(2.0)


# -- a real pool on the real broker ------------------------------------------------------------

def test_a_pool_measures_busy_time_and_span(channel, queue_name):
    channel.queue_declare(queue=queue_name, durable=True)
    jobs = make_jobs(6, durations=[0.2])
    with WorkerPool(queue_name, count=2) as pool:
        assert pool.wait_until_consuming(timeout=10) == 2
        publish_jobs(channel, queue_name, jobs)
        pool.wait_for_jobs(len(jobs), timeout=30)
        busy, took = pool.busy_time(), pool.span()
    assert list(busy.index) == ["worker-1", "worker-2"]
    assert busy.sum() >= 6 * 0.2  # each job sleeps its duration
    assert took >= 3 * 0.2  # two workers, six jobs of 0.2 s: at least three in a row
    assert len(job_intervals(pool.report())) == 6
    assert (account_for(jobs, pool.report()).done == 1).all()


def test_a_killed_worker_leaves_no_job_unaccounted_for(channel, queue_name):
    channel.queue_declare(queue=queue_name, durable=True)
    jobs = make_jobs(6, durations=[0.5])
    publish_jobs(channel, queue_name, jobs)
    with WorkerPool(queue_name, count=2) as pool:
        killed, job_id = pool.kill_while_busy(timeout=10)
        pool.wait_for_jobs(len(jobs), timeout=30)
        report = pool.report()
    accounted = account_for(jobs, report).set_index("job_id")
    assert (accounted.done == 1).all(), accounted  # every job done, none twice
    assert accounted.loc[job_id, "started"] == 2  # once by the killed worker, once by the other
    assert accounted.loc[job_id, "redelivered"]
    assert killed not in accounted.loc[job_id, "done_by"]
    assert killed not in pool.alive()


def test_wait_for_queued_asks_the_broker_and_has_a_limit(channel, queue_name):
    channel.queue_declare(queue=queue_name, durable=True)
    for number in range(5):
        publish(channel, queue_name, f"message {number}", persistent=True)
    assert wait_for_queued(channel, queue_name, 5, timeout=10) == 5
    with pytest.raises(CourseError, match=r"to hold 6 ready message\(s\), in vain \(last seen: 5 ready\)"):
        wait_for_queued(channel, queue_name, 6, timeout=0.5)


def test_wait_until_consuming_returns_at_once_when_no_worker_is_alive(channel, queue_name):
    channel.queue_declare(queue=queue_name, durable=True)
    pool = WorkerPool(queue_name, count=1)
    pool.stop()  # nobody consumes now, and a stopped pool has no live worker to wait for
    assert pool.wait_until_consuming(timeout=1) == 0
    pool.cleanup()


def test_a_worker_that_ends_after_reporting_has_reported(channel, queue_name):
    """Lesson 05's crashing worker can take a job, do it and die between two looks of the pool's
    start: that is a worker that started, not one that "stopped at once"."""
    channel.queue_declare(queue=queue_name, durable=True)
    publish_jobs(channel, queue_name, make_jobs(1, durations=[0.0]))
    pool = WorkerPool(queue_name, name="crashing", crash_after_work=1)
    pool.wait_for_jobs(1, timeout=10)
    pool.processes["crashing-1"].wait(timeout=10)
    assert pool.have_reported(["crashing-1"], "consuming")
    pool.cleanup()


def test_a_worker_that_stops_before_reporting_is_named_with_its_reason(queue_name):
    with pytest.raises(CourseError, match=r"worker-1 stopped at once: .*no queue"):
        WorkerPool(queue_name, count=1)  # a queue nobody declared


# -- the checks: each can say no ----------------------------------------------------------------

def test_check_prefetch_choice(capsys):
    long_jobs, tiny_jobs = make_jobs(4, durations=[0.5, 2.0]), make_jobs(100, durations=[0.001])
    for jobs, prefetch, ok in [(long_jobs, 1, True), (long_jobs, 0, False), (long_jobs, 5, False),
                               (tiny_jobs, 100, True), (tiny_jobs, 1, False), (tiny_jobs, 0, False),
                               (tiny_jobs, 3, False), (tiny_jobs, 5000, False), (tiny_jobs, "10", False)]:
        check_prefetch_choice(jobs, prefetch)
        assert capsys.readouterr().out.startswith("✅" if ok else "❌"), (prefetch, ok)


# -- the charts of lessons 03 and 04 draw what they are given, titled ---------------------------

def test_charts_are_titled_and_labelled():
    report = made_report([("w1", "started", "job-001", 0.0), ("w1", "done", "job-001", 1.0),
                          ("w2", "started", "job-002", 0.0), ("w2", "done", "job-002", 0.1)])
    intervals = job_intervals(report)
    ax = plot_timeline(intervals, title="timeline", long_from=1.0, until=3.0)
    assert ax.get_title() == "timeline" and ax.get_xlim() == (0.0, 3.0) and len(ax.patches) == 2
    axes = plot_timelines({"a": intervals, "b": intervals}, title="two")
    assert [a.get_title() for a in axes] == ["a", "b"]
    frame = pd.DataFrame({"measured": [8.0, 4.2], "ideal": [8.0, 4.0]}, index=[1, 2])
    assert plot_lines(frame, "t", "workers", "s").get_legend() is not None
    assert len(plot_grouped_bars(frame, "t", "x", "y", reference=1.0).patches) == 4
    samples = pd.DataFrame({"seconds": [0, 1], "messages": [3, 0]})
    assert plot_runs({"1 worker": samples}).get_ylabel() == "messages in the queue"


def test_reports_are_removed_with_their_process_and_a_killed_ones_by_the_next():
    # Every lesson's kernel and test process writes workers' and RPC servers' reports: none may
    # pile up in the system's temporary folder, not even from a kernel that was killed.
    import subprocess
    import sys
    from pathlib import Path

    def reports_folder_of(code):
        result = subprocess.run([sys.executable, "-c", "import os, sys\nfrom helpers.lab.reports import reports_folder\n"
                                 "print(reports_folder(), flush=True)\n" + code], capture_output=True, text=True, timeout=60)
        return Path(result.stdout.strip())

    killed = reports_folder_of("os.kill(os.getpid(), 9)")
    assert killed.is_dir()
    ended = reports_folder_of("")
    assert not ended.exists() and not killed.exists()
