"""How long the whole test suite takes against its number of test workers: ``make benchmark-suite``.

    python benchmarks/suite_times.py [--workers 1 8] [--output benchmarks/SUITE_TIMES.md]

Runs ``pytest -n N`` (the course's scheduler, tests/conftest.py) for each N in turn, on this machine, in the same sitting,
and writes one row a run: wall time, what pytest reported, how busy the CPUs were during the run
(all processes, the brokers included, from /proc/stat), the slowest tests, and the machine's load
before the run. Every figure in the output file comes from these runs. N = 1 still uses a test
worker with a node of its own, so serial and parallel runs do the same work.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
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


def run_suite(workers):
    load = os.getloadavg()[0]
    before = cpu_times()
    started = time.monotonic()
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
    return {"workers": workers, "seconds": seconds, "summary": summary, "load": load, "slowest": slowest,
            "busy": busy, "green": result.returncode == 0}


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
    args.output.write_text("\n".join(lines) + "\n")
    print(f"Written to {args.output.relative_to(ROOT)}")
    return 0 if all(run["green"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
