"""How long the whole test suite takes against its number of test workers: ``make benchmark-suite``.

    python benchmarks/suite_times.py [--workers 1 8] [--output benchmarks/SUITE_TIMES.md]

Runs ``pytest -n N`` (the course's scheduler, tests/conftest.py) for each N in turn, on this machine, in the same sitting,
and writes one row a run: wall time, what pytest reported, how busy the CPUs were during the run
(all processes, the brokers included, from /proc/stat), the slowest tests, and the machine's load
before the run; then, for each run, which kinds of process the CPU time went to (RabbitMQ nodes,
lesson kernels, the browser, ...), from each process's own counters in /proc, read twice a
second. Every figure in the output file comes from these runs. N = 1 still uses a test worker
with a node of its own, so serial and parallel runs do the same work.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_times():
    """(busy, total) CPU time of the whole machine so far, in clock ticks (None where unknown)."""
    try:
        fields = [int(part) for part in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


# Kinds of process, by what their command line holds; the first that matches. The command-line
# tools (rabbitmqctl, rabbitmq-plugins) run in an Erlang VM too, so they come before the nodes.
PROCESS_KINDS = [
    ("RabbitMQ command-line tools", ("rabbitmqctl", "rabbitmq-plugins", "rabbitmq-diagnostics", "rabbitmq-queues")),
    ("RabbitMQ nodes", ("beam.smp",)),
    ("Erlang's helpers (epmd, ...)", ("epmd", "erl_child_setup", "inet_gethost")),
    ("lesson kernels", ("ipykernel",)),
    ("JupyterLab servers", ("jupyter",)),
    ("the browser (chromium)", ("chrom",)),
    ("Celery workers and Flower", ("celery", "flower")),
    ("lessons' worker processes", ("helpers.lab.", "helpers/lab/")),
    ("the course's scripts", ("scripts/",)),
    ("pytest and its test workers", ("pytest", "exec(eval(sys.stdin")),
]


def kind_of(command):
    return next((kind for kind, marks in PROCESS_KINDS if any(mark in command for mark in marks)), "other")


class CpuByKind:
    """CPU seconds by kind of process while it runs: each process's user and system time from
    /proc/PID/stat, read twice a second (a process's last half second before it ends, and
    processes that live less than that, are missed: ``covered`` says how much of the machine's
    busy time the table accounts for)."""

    def __init__(self, interval=0.5):
        self.interval, self.seen, self.stopping = interval, {}, threading.Event()
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.thread = threading.Thread(target=self.sample_until_stopped, daemon=True)

    def __enter__(self):
        self.sample(first=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()

    def sample_until_stopped(self):
        while not self.stopping.wait(self.interval):
            self.sample()

    def sample(self, first=False):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / self.ticks
            key = (pid, fields[19])  # a pid, and when that process started: pids are reused
            if key in self.seen:
                self.seen[key][2] = used
            else:  # what ran before the run started does not count
                self.seen[key] = [kind_of(command), used if first else 0.0, used]

    def seconds_by_kind(self):
        totals, counts = {}, {}
        for kind, before, now in self.seen.values():
            if now > before:
                totals[kind] = totals.get(kind, 0.0) + now - before
                counts[kind] = counts.get(kind, 0) + 1
        return sorted(((seconds, counts[kind], kind) for kind, seconds in totals.items()), reverse=True)


def run_suite(workers):
    load = os.getloadavg()[0]
    before = cpu_times()
    started = time.monotonic()
    with CpuByKind() as by_kind:
        result = subprocess.run([sys.executable, "-m", "pytest", "-n", str(workers), "-q",
                                 "--durations=5", "-rf", "-p", "no:randomly"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    after = cpu_times()
    busy = (after[0] - before[0]) / (after[1] - before[1]) if before and after and after[1] > before[1] else None
    summary = next((line.strip("= ") for line in reversed(result.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)), "no summary")
    slowest = re.findall(r"^([\d.]+)s (?:call|setup|teardown)\s+(\S+)", result.stdout, re.MULTILINE)[:3]
    failed = re.findall(r"^FAILED (.+?)(?: - .*)?$", result.stdout, re.MULTILINE)
    if failed:
        summary += " (failed: " + ", ".join(failed) + ")"
        print(result.stdout[result.stdout.find("= FAILURES ="):], file=sys.stderr)  # what failed, and why
    busy_seconds = (after[0] - before[0]) / os.sysconf("SC_CLK_TCK") if before and after else None
    return {"workers": workers, "seconds": seconds, "summary": summary, "load": load, "slowest": slowest,
            "busy": busy, "green": result.returncode == 0, "by_kind": by_kind.seconds_by_kind(),
            "busy_seconds": busy_seconds}


def broker_version():
    """The version of the system's RabbitMQ package, which the test workers' nodes run."""
    try:
        found = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"], capture_output=True, text=True)
    except OSError:
        return "?"
    return found.stdout.split("-")[0] if found.returncode == 0 and found.stdout else "?"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/suite_times.py")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "SUITE_TIMES.md")
    args = parser.parse_args(argv)
    runs = []
    for workers in args.workers:
        runs.append(run_suite(workers))
        run = runs[-1]
        print(f"-n {workers}: {run['seconds']:.0f} s ({run['summary']})", flush=True)
    first = runs[0]
    lines = [
        "# The test suite: wall time against the number of test workers",
        "",
        f"Measured by `benchmarks/suite_times.py` on {datetime.date.today().isoformat()}: {platform.system()} "
        f"{platform.release()}, {os.cpu_count()} cores, Python {platform.python_version()}, RabbitMQ {broker_version()} "
        "(a local node per test worker). Each run is the whole suite, in the same sitting, one after the other.",
        "",
        f"| test workers | wall time | speed-up against {first['workers']} | pytest says | CPUs busy during the run | "
        "load before (1 min) | slowest tests |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        speed = f"{first['seconds'] / run['seconds']:.2f}×"
        busy = f"{run['busy']:.0%}" if run["busy"] is not None else "?"
        slowest = "; ".join(f"{name} {float(seconds):.0f} s" for seconds, name in run["slowest"])
        lines.append(f"| {run['workers']} | {run['seconds'] / 60:.1f} min ({run['seconds']:.0f} s) | {speed} | "
                     f"{run['summary']} | {busy} | {run['load']:.2f} | {slowest} |")
    for run in runs:
        counted = sum(seconds for seconds, _, _ in run["by_kind"])
        covered = f", {counted / run['busy_seconds']:.0%} of the machine's busy time" if run["busy_seconds"] else ""
        lines += ["", f"## Where the CPU time went, {run['workers']} test workers", "",
                  f"{counted:.0f} CPU seconds counted{covered}.", "",
                  "| kind of process | CPU seconds | share | processes |", "|---|---|---|---|"]
        lines += [f"| {kind} | {seconds:.0f} | {seconds / counted:.0%} | {count} |" for seconds, count, kind in run["by_kind"]]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"Written to {args.output.relative_to(ROOT)}")
    return 0 if all(run["green"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
