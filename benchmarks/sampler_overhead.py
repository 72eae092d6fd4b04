"""What watching the broker costs, and how far behind the chart runs (lesson 10). A benchmark, not a test.

    python benchmarks/sampler_overhead.py [--phase 10] [--pairs 3] [--rate 200] [--bursts 12]
    make benchmark-monitoring

1. **Overhead.** A steady load (a publisher thread at ``--rate`` messages a second, one worker
   acknowledging each) runs throughout; phases without and with the lesson's 1 s QueueSampler
   alternate (off, on, off, on...). The broker's CPU in each phase is read from
   ``/proc/<pid>/stat`` (utime + stime) of the local node's Erlang VM, whose pid is in
   ``$BROKER_STATE_DIR/rabbit.pid``. Where that is not available (Docker, another machine), the
   management API's run queue of the node is reported instead.
2. **Lag.** Bursts of messages are published (with publisher confirms, so the broker has them)
   into an idle queue at random moments; the time until (a) the management API first shows them
   (polled every 50 ms), (b) the lesson's 1 s sampler first shows them, and (c) the live chart
   (LiveChart, as lesson 10 runs it) first draws them on its depth line, read over AMQP by its
   DepthProbe, is recorded. The chart runs here for real, with a recorder in place of the
   notebook's display: every redraw is timed with the depth it drew.

The results go to benchmarks/MONITORING_RESULTS.md (and are printed).
"""

import argparse
import os
import threading
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.amqp import connect, publish  # noqa: E402
from helpers.errors import CourseError  # noqa: E402
from helpers.lab.load import BackgroundPublisher  # noqa: E402
from helpers.management import management_api  # noqa: E402
from helpers.metrics import QueueSampler  # noqa: E402
from helpers.waiting import wait_until  # noqa: E402
from helpers.lab.workers import WorkerPool, make_jobs  # noqa: E402

LOAD_QUEUE = "bench.monitoring.load"
LAG_QUEUE = "bench.monitoring.lag"
RESULTS = ROOT / "benchmarks" / "MONITORING_RESULTS.md"
TICKS = os.sysconf("SC_CLK_TCK")


def broker_pid():
    """The broker's process id, from the broker itself (its node's ``os_pid``), when that process runs
    on this machine and can be read (not in a Docker container); else None. A node that has just
    started lists ``os_pid`` with its first statistics, a second or so later: wait for it."""
    try:
        api = management_api()
        node = wait_until(lambda: api.get("nodes")[0].get("os_pid") and api.get("nodes")[0], "the node's os_pid", timeout=10)
        pid = int(node["os_pid"])
        if b"beam" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
        Path(f"/proc/{pid}/stat").read_text()
        return pid
    except (OSError, ValueError, KeyError, IndexError, CourseError):
        return None


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run_queue(api):
    return sum(node.get("run_queue", 0) for node in api.get("nodes"))


def measure_phase(seconds, pid, api):
    """The broker's CPU (% of one core) over ``seconds``, or its mean run queue if CPU is not readable."""
    if pid is not None:
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)
    values, stop_at = [], time.monotonic() + seconds
    while time.monotonic() < stop_at:
        values.append(run_queue(api))
        time.sleep(0.5)
    return statistics.mean(values)


def overhead(args, api, pid):
    with connect(name="bench-setup") as connection:
        channel = connection.channel()
        channel.queue_delete(LOAD_QUEUE)
        channel.queue_declare(LOAD_QUEUE, durable=True)
    total = args.pairs * 3 * args.phase + args.phase + 10
    jobs = make_jobs(int(args.rate * total), durations=[0])
    off, on, fast = [], [], []
    pool = WorkerPool(LOAD_QUEUE, count=1, prefetch=50, name="bench-worker")
    started = time.monotonic()
    publisher = BackgroundPublisher(LOAD_QUEUE, jobs, rate=args.rate, max_seconds=total, name="bench-publisher").start()
    try:
        time.sleep(args.phase / 2)  # warm up: the load reaches its steady state
        for pair in range(args.pairs):
            off.append(measure_phase(args.phase, pid, api))
            sampler = QueueSampler([LOAD_QUEUE], interval=1.0, max_duration=args.phase + 5).start()
            on.append(measure_phase(args.phase, pid, api))
            sampler.stop()
            # ten times the requests, so that their cost stands out of the noise
            sampler = QueueSampler([LOAD_QUEUE], interval=0.1, max_duration=args.phase + 5).start()
            fast.append(measure_phase(args.phase, pid, api))
            sampler.stop()
            print(f"  round {pair + 1}: without sampler {off[-1]:.1f}, with the 1 s sampler {on[-1]:.1f}, "
                  f"with a 0.1 s sampler {fast[-1]:.1f}", flush=True)
        achieved = publisher.published / (time.monotonic() - started)
    finally:
        publisher.stop()
        pool.stop()
        pool.cleanup()
        with connect(name="bench-cleanup") as connection:
            connection.channel().queue_delete(LOAD_QUEUE)
    return off, on, fast, achieved


class RecordingDisplay:
    """Stands in for the notebook's display handle: records when each redraw happened and the
    newest ready count the chart's depth line had then."""

    def __init__(self, live):
        self.live = live
        self.redraws = []

    def update(self, fig):
        depths = self.live.probe.frame()
        self.redraws.append((time.monotonic(), int(depths["messages_ready"].iloc[-1]) if len(depths) else 0))


def run_live_chart(seconds, finished):
    """LiveChart.run in a thread, as lesson 10 runs it, with a RecordingDisplay for the notebook."""
    import IPython.display
    import matplotlib

    matplotlib.use("Agg")
    from helpers.lab.dashboard import LiveChart

    live = LiveChart([LAG_QUEUE], title="lag")
    recorder = RecordingDisplay(live)
    IPython.display.display = lambda *args, **kwargs: recorder
    thread = threading.Thread(target=live.run, kwargs={"seconds": seconds, "until": lambda frame: finished.is_set()}, daemon=True)
    thread.start()
    return recorder, thread


def lag(args, api):
    with connect(name="bench-lag") as connection:
        channel = connection.channel()
        channel.queue_delete(LAG_QUEUE)
        channel.queue_declare(LAG_QUEUE, durable=True)
        channel.confirm_delivery()
        api.wait_for_queue(LAG_QUEUE, messages=0)
        sampler = QueueSampler([LAG_QUEUE], interval=1.0, max_duration=args.bursts * 8 + 30).start()
        finished = threading.Event()
        chart, chart_thread = run_live_chart(args.bursts * 8 + 30, finished)
        api_lags, sampler_lags, chart_lags = [], [], []
        try:
            for _ in range(args.bursts):
                time.sleep(random.uniform(0.5, 1.5))  # land at a random point of the sampler's second
                for number in range(50):
                    publish(channel, LAG_QUEUE, f"burst {number}", persistent=True)
                sent = time.monotonic()  # confirmed: the broker has all 50
                while api.queue(LAG_QUEUE).get("messages", 0) < 50:
                    if time.monotonic() - sent > 10:
                        raise CourseError("The management API did not show the burst within 10 s.")
                    time.sleep(0.05)
                api_lags.append(time.monotonic() - sent)
                while True:
                    seen = [row for row in list(sampler.rows) if row["messages"] >= 50
                            and sampler.started + row["seconds"] >= sent]
                    if seen:
                        sampler_lags.append(sampler.started + seen[0]["seconds"] - sent)
                        break
                    if time.monotonic() - sent > 10:
                        raise CourseError("The sampler did not see the burst within 10 s.")
                    time.sleep(0.02)
                drawn = wait_until(lambda: next((at for at, ready in list(chart.redraws) if at >= sent and ready >= 50), None),
                                   "the live chart to draw the burst", timeout=10, interval=0.02)
                chart_lags.append(drawn - sent)
                channel.queue_purge(LAG_QUEUE)
                api.wait_for_queue(LAG_QUEUE, messages=0)
        finally:
            finished.set()
            chart_thread.join(timeout=10)
            sampler.stop()
            channel.queue_delete(LAG_QUEUE)
    return api_lags, sampler_lags, chart_lags


def describe(values, unit="s"):
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {statistics.median(values):.2f} {unit}, p90 {p90:.2f} {unit}, max {max(values):.2f} {unit} (n={len(values)})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--pairs", type=int, default=3, help="rounds of (off, 1 s sampler, 0.1 s sampler) phases (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="messages a second in the steady load (default 200)")
    parser.add_argument("--bursts", type=int, default=12, help="bursts for the lag measurement (default 12)")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    load_at_start = os.getloadavg()
    api = management_api()
    version = api.overview().get("rabbitmq_version", "?")
    pid = broker_pid()
    what = "CPU (% of one core, from /proc/<pid>/stat)" if pid else "run queue (management API; CPU not readable here)"
    print(f"RabbitMQ {version}; measuring the broker's {what}.", flush=True)

    print(f"Overhead: steady load of {args.rate:g} msg/s, {args.pairs} rounds of (off, 1 s sampler, 0.1 s sampler) phases of {args.phase:g} s...", flush=True)
    off, on, fast, achieved = overhead(args, api, pid)
    mean_off, mean_on, mean_fast = statistics.mean(off), statistics.mean(on), statistics.mean(fast)
    per_second = (mean_fast - mean_off) / 10  # the cost of one request a second, from ten a second
    noise = statistics.stdev(off) if len(off) > 1 else float("nan")
    extra = mean_on - mean_off
    relative = 100 * extra / mean_off if mean_off else float("nan")
    print(f"Lag: {args.bursts} bursts of 50 messages into an idle queue...", flush=True)
    api_lags, sampler_lags, chart_lags = lag(args, api)

    unit = "points of one core's CPU" if pid else "run queue"
    # "< 5% extra", read both ways: as a share of one core, and relative to the broker's own load
    verdict_cpu = (f"{'meets' if extra < 5 else 'misses'} it as a share of one core ({extra:+.2f} points); "
                   f"{'meets' if relative < 5 else 'misses'} it relative to the broker's load ({relative:+.1f}%)") if pid else \
                  f"{'meets' if relative < 5 else 'misses'} it relative to the run queue ({relative:+.1f}%)"
    verdict_lag = "meets" if statistics.median(chart_lags) <= 0.3 else "misses"
    extra_lag = statistics.median(sampler_lags) - statistics.median(api_lags)
    lines = [
        "# Monitoring overhead and lag (lesson 10)",
        "",
        "Produced by `benchmarks/sampler_overhead.py` (`make benchmark-monitoring`). A benchmark, not a test:",
        "the figures depend on the machine and on what else runs on it.",
        "",
        f"- When: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; RabbitMQ {version} ({broker_backend()}); "
        f"{os.cpu_count()} CPU core(s), {platform.system()} {platform.machine()}; Python {platform.python_version()}.",
        f"- Broker figure: {what}.",
        f"- Machine load when the run started (1, 5, 15 min): {', '.join(f'{value:.2f}' for value in load_at_start)};"
        f" when it ended: {', '.join(f'{value:.2f}' for value in os.getloadavg())}.",
        "- Phases without and with the sampler alternate, so that whatever else the machine does is spread over both.",
        "",
        "## Overhead of the 1 s sampler",
        "",
        f"Steady load: {args.rate:g} msg/s asked, {achieved:.0f} msg/s achieved (one publisher thread, one worker, prefetch 50);"
        f" {args.pairs} rounds of three {args.phase:g} s phases.",
        "",
        f"Broker {unit.replace('points of one core', '% of one core')} in each phase:",
        "",
        "| round | without sampler | with the 1 s sampler (the lesson's) | with a 0.1 s sampler (10x the requests) |",
        "|---|---|---|---|",
        *[f"| {number + 1} | {a:.1f} | {b:.1f} | {c:.1f} |" for number, (a, b, c) in enumerate(zip(off, on, fast))],
        f"| **mean** | **{mean_off:.1f}** | **{mean_on:.1f}** | **{mean_fast:.1f}** |",
        "",
        f"Extra with the 1 s sampler, measured directly: {extra:+.2f} {unit} ({relative:+.1f}% of the broker's load without it);"
        f" the phases without a sampler differ among themselves by {noise:.2f} (standard deviation),"
        f" so that difference is {'within' if abs(extra) <= 2 * noise else 'above'} the noise.",
        f"Estimated from the 0.1 s sampler (its extra divided by ten): {per_second:+.2f} {unit} for one request a second"
        f" ({100 * per_second / mean_off if mean_off else float('nan'):+.1f}% of the broker's load).",
        f"Target < 5% extra: {verdict_cpu}. The sampler's cost is one small HTTP request a second, the same",
        "whatever the load, so it is a large share of a nearly idle broker and a small one of a busy broker.",
        "",
        "## How far the chart runs behind the broker",
        "",
        "Bursts of 50 confirmed messages into an idle queue, at random moments:",
        "",
        f"- management API shows the burst (polled every 50 ms): {describe(api_lags)}",
        f"- the 1 s QueueSampler first shows it: {describe(sampler_lags)}",
        f"- the live chart's depth line first draws it (DepthProbe over AMQP every 0.2 s, redrawn every 0.2 s): {describe(chart_lags)}",
        "",
        f"Target: the chart's depth line at most 0.3 s behind the broker (median): **{verdict_lag}** it"
        f" ({statistics.median(chart_lags):.2f} s).",
        f"The management API's figures are statistics: queues emit them every `collect_statistics_interval`",
        f"({stats_interval_ms()} ms, docker/rabbitmq.conf) and the plugin keeps one sample a second, so whatever polls the",
        f"API sees a change {statistics.median(api_lags):.2f} s late at the median in this run ({extra_lag:+.2f} s more through a",
        "1 s sampler). A passive `queue_declare` is answered by the queue itself, at once: the chart draws its",
        "depth line from that, and keeps the API for what only it has (rates, unacknowledged messages, consumers).",
        "",
    ]
    text = "\n".join(lines)
    Path(args.output).write_text(text)
    print()
    print(text)
    return 0


def broker_backend():
    """Which backend runs the broker, as the course's broker command chose it."""
    from helpers.ops.broker import choose_backend

    backend, _why = choose_backend()
    return f"{backend.name} backend"


def stats_interval_ms():
    """The broker's collect_statistics_interval, as docker/rabbitmq.conf sets it."""
    for line in (ROOT / "docker" / "rabbitmq.conf").read_text().splitlines():
        if line.strip().startswith("collect_statistics_interval"):
            return int(line.split("=")[1])
    return 5000  # RabbitMQ's default


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
