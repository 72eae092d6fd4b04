"""How fast a workshop's classroom is made, read and removed (helpers.ops.classroom). A benchmark, not a test.

    python benchmarks/classroom.py [--attendees 30] [--exercises 30] [--refreshes 5]

On the course's broker (its settings, as every command): a class of ``--attendees`` is created
(users, vhosts, permissions: timed), each attendee's progress queue gets one outcome for each of
``--exercises`` exercises (published as the attendee's checks would, into their vhost), the
board is computed ``--refreshes`` times (every progress queue read through the management API,
the grid and its text: each refresh timed), and the class is reset (timed). Goals (issue: the
workshop): creating 30 attendees under 10 s, one refresh of 30 x 30 under 2 s. The results go to
benchmarks/CLASSROOM.md (and are printed).
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.amqp import connect, publish  # noqa: E402
from helpers.checks.progress import PROGRESS_QUEUE, declare_progress_queue, progress_record  # noqa: E402
from helpers.config import settings  # noqa: E402
from helpers.management import management_api  # noqa: E402
from helpers.ops import classroom  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "CLASSROOM.md"
CLASS = "benchmark"


def fill_progress(people, index, exercises):
    """One outcome an exercise an attendee, in each attendee's own vhost, as their checks record it."""
    current = settings()
    calls = index.drop_duplicates("exercise").head(exercises)
    for number, person in enumerate(people):
        url = current.amqp_url.rsplit("/", 1)[0] + f"/{person.account}"
        with connect(url=url, name="benchmark") as connection:
            channel = connection.channel()
            declare_progress_queue(channel)
            for position, call in enumerate(calls.itertuples()):
                args = [] if call.key != call.key else [call.key]   # a check's first argument, when it names one
                record = progress_record(call.check, args, (number + position) % 3 != 0, CLASS, person.account)
                publish(channel, PROGRESS_QUEUE, record, persistent=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/classroom.py")
    parser.add_argument("--attendees", type=int, default=30)
    parser.add_argument("--exercises", type=int, default=30)
    parser.add_argument("--refreshes", type=int, default=5)
    args = parser.parse_args(argv)
    api = management_api(timeout=30)
    version = api.overview().get("rabbitmq_version", "?")
    classroom.reset(CLASS, api)
    started = time.monotonic()
    people = classroom.create(classroom.attendees_from(CLASS, count=args.attendees), CLASS, api)
    created = time.monotonic() - started
    index = classroom.exercise_index()
    fill_progress(people, index, args.exercises)
    refreshes = []
    for _ in range(args.refreshes):
        started = time.monotonic()
        accounts = [vhost["name"] for vhost in classroom.class_vhosts(api, CLASS)]
        table = classroom.grid(classroom.read_progress(api, accounts), index, accounts)
        classroom.board_text(table)
        refreshes.append(time.monotonic() - started)
    shown = int((table.drop(columns="stuck (min)") != "").sum().sum())
    started = time.monotonic()
    deleted = classroom.reset(CLASS, api)
    removed = time.monotonic() - started
    assert shown == args.attendees * min(args.exercises, index["exercise"].nunique()), shown
    assert len(deleted) == args.attendees

    load = os.getloadavg()[0]
    lines = [
        "# The classroom: made, read and removed",
        "",
        f"Measured by `python benchmarks/classroom.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: "
        f"RabbitMQ {version}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load:.2f} at the end.",
        "",
        "| step | attendees | exercises | seconds | goal |",
        "|---|---|---|---|---|",
        f"| create (users, vhosts, permissions) | {args.attendees} | | {created:.2f} | < 10 |",
        f"| one board refresh (median of {args.refreshes}; slowest {max(refreshes):.2f}) | {args.attendees} | "
        f"{args.exercises} | {statistics.median(refreshes):.2f} | < 2 |",
        f"| reset | {args.attendees} | | {removed:.2f} | |",
        "",
        f"The board showed {shown} outcomes, one for each attendee and exercise, as published.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
