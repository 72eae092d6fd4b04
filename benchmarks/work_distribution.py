"""How well the course's broker shares work between worker processes: ``make benchmark``.

    python benchmarks/work_distribution.py [--repeat 3] [--note "what else ran"] [--output benchmarks/RESULTS.md]

Measures, on the broker the course's settings point to (AMQP_URL, MANAGEMENT_URL), with the
workers of ``helpers.lab.workers`` (real processes, as lessons 03 and 04 start them):

(a) fair dispatch: uneven jobs, 4 workers, prefetch 1; efficiency = ideal time / measured time,
    the ideal being max(total work / 4, longest job)            (target: at least 0.9);
(b) speed-up from 1 to 4 workers on jobs that sleep               (target: at least 3.5x);
(c) jobs per second for tiny jobs (no work at all), one worker, against prefetch.

A run's time goes from the first job "started" to the last job "done" in the workers' reports,
so starting the worker processes is never counted. Each figure is the median of ``--repeat``
runs. The result is printed and written as a markdown table (default benchmarks/RESULTS.md).
This is a measurement, not a test: nothing here fails because the machine was slow.

Introduced with lessons 03 and 04.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pika

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.amqp import connect  # noqa: E402
from helpers.errors import CourseError  # noqa: E402
from helpers.management import management_api  # noqa: E402
from helpers.lab.workers import (WorkerPool, best_in_order_time, ideal_time, make_jobs, publish_jobs, span,  # noqa: E402
                             wait_for_queued, waits_between_jobs)

QUEUE = "benchmark-work"
UNEVEN = make_jobs(60, durations=[0.1, 0.1, 0.1, 0.5])  # every 4th job is long
EVEN = make_jobs(40, durations=[0.2])
TINY = make_jobs(5000, durations=[0])
PREFETCHES = [1, 10, 50, 200]


def fresh_queue(channel):
    channel.queue_delete(QUEUE)
    channel.queue_declare(QUEUE, durable=True)


def run_started_pool(channel, jobs, workers, prefetch=1):
    """Start the workers, wait until all consume, then publish: the report of the run."""
    with WorkerPool(QUEUE, count=workers, prefetch=prefetch, name="bench") as pool:
        pool.wait_until_consuming()
        publish_jobs(channel, QUEUE, jobs)
        pool.wait_for_jobs(len(jobs), timeout=120, interval=0.2)
        report = pool.report()
    pool.cleanup()
    return report


def run_on_full_queue(channel, jobs, workers, prefetch):
    """Publish first, then start the workers on the full queue: the report of the run."""
    publish_jobs(channel, QUEUE, jobs)
    wait_for_queued(channel, QUEUE, len(jobs), timeout=30)
    with WorkerPool(QUEUE, count=workers, prefetch=prefetch, name="bench") as pool:
        pool.wait_for_jobs(len(jobs), timeout=120, interval=0.5)
        report = pool.report()
    pool.cleanup()
    return report


def done_once(jobs, report):
    done = report[report.event == "done"].job_id
    if len(done) != len(jobs) or done.nunique() != len(jobs):
        raise CourseError(f"Not every job was done exactly once ({len(done)} done, {done.nunique()} different).")


def median_range(values, digits=2):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def measure(repeat, say):
    results = {}
    with connect(name="benchmark") as connection:
        channel = connection.channel()
        fresh_queue(channel)

        say(f"(a) {len(UNEVEN)} uneven jobs, 4 workers, prefetch 1, {repeat} runs")
        times = []
        for _ in range(repeat):
            report = run_started_pool(channel, UNEVEN, workers=4, prefetch=1)
            done_once(UNEVEN, report)
            times.append(span(report))
            say(f"    {times[-1]:.2f} s")
        results["a"] = times

        say(f"(b) {len(EVEN)} jobs of 0.2 s, 1 then 4 workers, {repeat} runs")
        one, four = [], []
        for _ in range(repeat):
            for workers, times in ((1, one), (4, four)):
                report = run_started_pool(channel, EVEN, workers=workers, prefetch=1)
                done_once(EVEN, report)
                times.append(span(report))
            say(f"    1 worker {one[-1]:.2f} s, 4 workers {four[-1]:.2f} s")
        results["b"] = (one, four)

        say(f"(c) {len(TINY)} tiny jobs, 1 worker, prefetch {PREFETCHES}, {repeat} runs")
        rates = {prefetch: [] for prefetch in PREFETCHES}
        waits = {prefetch: [] for prefetch in PREFETCHES}
        for _ in range(repeat):
            for prefetch in PREFETCHES:
                report = run_on_full_queue(channel, TINY, workers=1, prefetch=prefetch)
                done_once(TINY, report)
                rates[prefetch].append(len(TINY) / span(report))
                waits[prefetch].append(waits_between_jobs(report).median() * 1e6)
            say("    " + ", ".join(f"prefetch {p}: {rates[p][-1]:.0f}/s" for p in PREFETCHES))
        results["c"] = (rates, waits)
        channel.queue_delete(QUEUE)
    return results


def markdown(results, repeat, version, note, started, took):
    a = results["a"]
    ideal, in_order = ideal_time(UNEVEN, 4), best_in_order_time(UNEVEN, 4)
    efficiency = [ideal / t for t in a]
    one, four = results["b"]
    speed_up = [t1 / t4 for t1, t4 in zip(one, four)]
    rates, waits = results["c"]
    met = lambda value, target: "yes" if value >= target else "**no**"  # noqa: E731
    lines = [
        "# Work distribution: measured on the course's broker",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `make benchmark` (`benchmarks/work_distribution.py`), "
        f"in {took:.0f} s: RabbitMQ {version}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, pika {pika.__version__}.",
        f"Each figure is the median of {repeat} runs, with the lowest and highest in brackets. A run's time goes from "
        "the first job started to the last job done in the workers' own reports, so starting the worker processes "
        "is not counted. Jobs sleep for their duration (they wait, as for another service, rather than compute).",
    ]
    if note:
        lines += ["", f"Note: {note}"]
    total = sum(job["duration"] for job in UNEVEN)
    lines += [
        "",
        "## (a) Fair dispatch of uneven jobs (prefetch 1, 4 workers)",
        "",
        f"{len(UNEVEN)} jobs, every 4th takes 0.5 s and the others 0.1 s: {total:.1f} s of work.",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
        f"| ideal: max(total work / 4, longest job) | {ideal:.2f} s | | |",
        f"| best in order (each job, in queue order, to the first free worker; no overhead) | {in_order:.2f} s | | |",
        f"| measured | {median_range(a)} s | | |",
        f"| **efficiency** = ideal / measured | {median_range(efficiency)} | ≥ 0.9 | {met(statistics.median(efficiency), 0.9)} |",
        f"| best in order / measured (what is lost to the broker and the workers) | {median_range([in_order / t for t in a])} | | |",
        "",
        "## (b) Speed-up from 1 to 4 workers",
        "",
        f"{len(EVEN)} jobs of 0.2 s each ({sum(job['duration'] for job in EVEN):.1f} s of work), prefetch 1.",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
        f"| 1 worker | {median_range(one)} s | | |",
        f"| 4 workers | {median_range(four)} s | | |",
        f"| **speed-up** = time with 1 / time with 4 | {median_range(speed_up)} × | ≥ 3.5 × | {met(statistics.median(speed_up), 3.5)} |",
        "",
        "## (c) Tiny jobs: jobs per second against prefetch (1 worker)",
        "",
        f"{len(TINY)} jobs that do no work, published first, then one worker. The wait is the time between finishing "
        "a job and starting the next (median over the jobs of a run): with prefetch 1 it includes a round trip to the broker.",
        "",
        "| prefetch | jobs per second | wait between jobs (µs) |",
        "|---|---|---|",
    ]
    for prefetch in PREFETCHES:
        lines.append(f"| {prefetch} | {median_range(rates[prefetch], 0)} | {median_range(waits[prefetch], 0)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is reported)")
    parser.add_argument("--note", default="", help="a line added to the results, e.g. what else ran on the machine")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args(argv)
    try:
        version = management_api().overview().get("rabbitmq_version", "?")
        started_at, started = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
        results = measure(args.repeat, say=lambda line: print(line, flush=True))
        text = markdown(results, args.repeat, version, args.note, started_at, time.monotonic() - started)
    except CourseError as error:
        print(error, file=sys.stderr)
        return 1
    Path(args.output).write_text(text)
    print()
    print(text)
    print(f"Written to {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
