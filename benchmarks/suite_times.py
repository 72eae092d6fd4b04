"""How long the whole test suite takes, serial against parallel: ``make benchmark-suite``.

    python benchmarks/suite_times.py [--workers 1 3] [--output benchmarks/SUITE_TIMES.md]

Runs ``pytest -n N`` (the course's scheduler, tests/conftest.py) for each N in turn, on this machine, in the same sitting,
and writes one row a run: wall time, what pytest reported, the slowest tests, and the machine's
load before the run. Every figure in the output file comes from these runs. N = 1 still uses a
test worker with a node of its own, so serial and parallel runs do the same work.
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


def run_suite(workers):
    load = os.getloadavg()[0]
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", str(workers), "-q",
                             "--durations=5", "-p", "no:randomly"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    summary = next((line.strip("= ") for line in reversed(result.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)), "no summary")
    slowest = re.findall(r"^([\d.]+)s (?:call|setup|teardown)\s+(\S+)", result.stdout, re.MULTILINE)[:3]
    return {"workers": workers, "seconds": seconds, "summary": summary, "load": load, "slowest": slowest,
            "green": result.returncode == 0}


def broker_version():
    sys.path.insert(0, str(ROOT))
    from helpers.management import management_api

    return management_api().overview().get("rabbitmq_version", "?")


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
    serial = next((run["seconds"] for run in runs if run["workers"] == 1), None)
    lines = [
        "# The test suite: serial against parallel",
        "",
        f"Measured by `benchmarks/suite_times.py` on {datetime.date.today().isoformat()}: {platform.system()} "
        f"{platform.release()}, {os.cpu_count()} cores, Python {platform.python_version()}, RabbitMQ {broker_version()} "
        "(a local node per test worker). Each run is the whole suite, in the same sitting, one after the other.",
        "",
        "| test workers | wall time | speed-up | pytest says | load before (1 min) | slowest tests |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        speed = f"{serial / run['seconds']:.2f}×" if serial else "—"
        slowest = "; ".join(f"{name} {float(seconds):.0f} s" for seconds, name in run["slowest"])
        lines.append(f"| {run['workers']} | {run['seconds'] / 60:.1f} min ({run['seconds']:.0f} s) | {speed} | "
                     f"{run['summary']} | {run['load']:.2f} | {slowest} |")
    args.output.write_text("\n".join(lines) + "\n")
    print(f"Written to {args.output.relative_to(ROOT)}")
    return 0 if all(run["green"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
