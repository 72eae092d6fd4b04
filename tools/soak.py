"""Run the whole suite N times in a row and tally the failures (``make soak N=10``).

    python tools/soak.py 10 [pytest arguments...]

Each run is ``make test`` (so it also sets up and starts the broker); a run's failed tests are
read from pytest's short summary. At the end: one line a run, then which tests failed how often,
so a flaky test shows itself by name. Exits 1 if any run failed.
"""

import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


LOGS = PROJECT / ".broker-tests" / "soak"


def run_once(pytest_args, number):
    started = time.monotonic()
    command = ["make", "-s", "test", f"PYTEST_ARGS={' '.join(pytest_args)}"]
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / f"run-{number}.txt").write_text(result.stdout + result.stderr)  # what failed, and why
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.MULTILINE)
    summary = next((line.strip("= ") for line in reversed(result.stdout.splitlines()) if " in " in line and ("passed" in line or "failed" in line)), "no summary")
    return result.returncode, failed, summary, time.monotonic() - started


def main(argv):
    runs = int(argv[0]) if argv else 10
    tally, green = Counter(), 0
    for number in range(1, runs + 1):
        code, failed, summary, seconds = run_once(argv[1:], number)
        green += code == 0
        tally.update(failed)
        print(f"run {number}/{runs}: {'green' if code == 0 else 'RED'} in {seconds:.0f} s ({summary})", flush=True)
    print(f"\n{green} of {runs} runs green.")
    for test, count in tally.most_common():
        print(f"  failed {count}x: {test}")
    return 0 if green == runs else 1


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):
        sys.exit(print(__doc__.strip()))
    sys.exit(main(sys.argv[1:]))
