"""A workshop on one shared broker: an account and a vhost for each attendee, a live board of their
exercises for the instructor, and a reset that leaves the broker as it was.

    python -m helpers.ops.classroom create --count 30 [--class workshop] [--host 192.168.1.20]
    python -m helpers.ops.classroom create --names names.txt        # one attendee a line
    python -m helpers.ops.classroom board [--seconds 10800] [--once]
    show_board("workshop")                                          # the same grid in a notebook cell
    python -m helpers.ops.classroom export results.csv
    python -m helpers.ops.classroom reset [--class workshop]

The instructor runs it with the broker's administrator account: the course's settings
(``AMQP_URL``, ``MANAGEMENT_URL``; the course's broker is set up with ``devuser`` as administrator).
``create`` makes, for each attendee, a user with a generated password (tag ``policymaker``: the
management UI and API show them their own vhost and nothing else, and they may set policies
there, as lessons 09 and 15 do) and a vhost of the same name, with permissions on that vhost
only and the course's policies; the vhost is tagged ``course-classroom`` and described with
the class's name, which is how ``board`` and ``reset`` find the class. It writes
``classroom/<class>/<attendee>.env`` (the attendee copies it to ``.env`` at the top of the course:
every lesson then runs in their vhost, and their checks record their outcomes there,
``helpers.checks.progress``) and ``classroom/<class>/cards.md``, one printable card an attendee.
The files hold passwords: ``classroom/`` is not in git.

Never imported by lessons. Introduced with the workshop edition (README, "Running a workshop").
"""

import argparse
import ast
import csv
import json
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import nbformat
import pandas as pd

from ..checks.progress import PROGRESS_LIMIT, PROGRESS_QUEUE
from ..config import PROJECT_DIR, settings
from ..errors import CourseError
from ..management import management_api
from .broker import COURSE_POLICIES

TAG = "course-classroom"
FOLDER = PROJECT_DIR / "classroom"
NOTEBOOKS = PROJECT_DIR / "notebooks"
READABLE = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: a password read off a printed card


@dataclass
class Attendee:
    name: str       # as the instructor wrote it
    account: str    # user and vhost: <class>-<slug>
    password: str = ""


def slug(name):
    """A name as it can stand in a user and vhost name: lower case letters, digits and dashes."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not text:
        raise CourseError(f"The name {name!r} has no letter or digit to make an account name from.")
    return text


def attendees_from(class_name, count=None, names=None):
    """The class's attendees: ``names`` (one a line; blank lines and # comments skipped) or
    ``count`` numbered ones (attendee-01, ...)."""
    if names is not None:
        listed = [line.strip() for line in names if line.strip() and not line.strip().startswith("#")]
    else:
        listed = [f"attendee-{number:02d}" for number in range(1, (count or 0) + 1)]
    people = [Attendee(name, f"{class_name}-{slug(name)}") for name in listed]
    accounts = [person.account for person in people]
    doubles = sorted({account for account in accounts if accounts.count(account) > 1})
    if doubles:
        raise CourseError(f"Two attendees would share the account {doubles[0]}: make their names differ.")
    if not people:
        raise CourseError("No attendees: give --count N or --names FILE with one name a line.")
    return people


def _password():
    return "".join(secrets.choice(READABLE) for _ in range(14))


def _vhost_tags(vhost):
    """A vhost's tags, wherever this RabbitMQ version puts them."""
    tags = vhost.get("tags") or (vhost.get("metadata") or {}).get("tags") or []
    return tags.split(",") if isinstance(tags, str) else list(tags)


def _description(vhost):
    return vhost.get("description") or (vhost.get("metadata") or {}).get("description") or ""


def class_vhosts(api, class_name=None):
    """The vhosts ``create`` made (of one class, or of every class), as the API's dicts."""
    found = [vhost for vhost in api.get("vhosts") if TAG in _vhost_tags(vhost)]
    if class_name is not None:
        found = [vhost for vhost in found if _description(vhost).startswith(f"course classroom {class_name}:")]
    return sorted(found, key=lambda vhost: vhost["name"])


def create(people, class_name, api=None, admin=None):
    """Make each attendee's user, vhost and permissions; the instructor's user (``admin``, the
    course's) gets permissions on every vhost too, to read the progress queue. Returns the people
    with their passwords. Refuses a class that exists: ``reset`` it first."""
    api = api or management_api(timeout=10)
    admin = admin or settings().user
    taken = {vhost["name"] for vhost in api.get("vhosts")} | {user["name"] for user in api.get("users")}
    clash = sorted(taken & {person.account for person in people})
    if clash:
        raise CourseError(f"The broker already has a user or vhost named {clash[0]}: run "
                          f"`python -m helpers.ops.classroom reset --class {class_name}` first, or choose another --class.")
    everything = ".*"
    for person in people:
        person.password = _password()
        vhost = quote(person.account, safe="")
        api.put(f"vhosts/{vhost}", {"description": f"course classroom {class_name}: {person.name}", "tags": TAG})
        api.put(f"users/{quote(person.account, safe='')}", {"password": person.password, "tags": "policymaker"})
        for user in (person.account, admin):
            api.put(f"permissions/{vhost}/{quote(user, safe='')}",
                    {"configure": everything, "write": everything, "read": everything})
        for name, policy in COURSE_POLICIES.items():   # as the course's own vhost has them (lesson 09)
            api.put(f"policies/{vhost}/{quote(name, safe='')}", policy)
    return people


def _with_host(url, host, user=None, password=None, vhost=None):
    parts = urlsplit(url)
    netloc = f"{host}:{parts.port}" if parts.port else host
    if user is not None:
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{netloc}"
    path = f"/{quote(vhost, safe='')}" if vhost is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def write_files(people, class_name, host=None, folder=None):
    """Each attendee's ``.env`` and the printable cards; returns the class's folder."""
    current = settings()
    host = host or current.amqp_host
    folder = Path(folder or FOLDER / class_name)
    folder.mkdir(parents=True, exist_ok=True)
    cards = [f"# Class {class_name}: {len(people)} attendees\n"]
    for person in people:
        amqp = _with_host(current.amqp_url, host, person.account, person.password, vhost=person.account)
        management = _with_host(current.management_url, host)
        prometheus = _with_host(current.prometheus_url, host)
        env_file = folder / f"{slug(person.name)}.env"
        env_file.touch(mode=0o600)   # a password: readable by the instructor only
        env_file.chmod(0o600)
        env_file.write_text(
            f"# {person.name}, class {class_name}: copy this file to .env at the top of the course.\n"
            f"AMQP_URL={amqp}\nMANAGEMENT_URL={management}\nPROMETHEUS_URL={prometheus}\nCOURSE_CLASSROOM={class_name}\n")
        cards.append(f"\n---\n\n**{person.name}**\n\n- AMQP URL: `{amqp}`\n- Management UI: {management} "
                     f"(user `{person.account}`, password `{person.password}`)\n- Your vhost: `{person.account}`\n")
    (folder / "cards.md").touch(mode=0o600)
    (folder / "cards.md").chmod(0o600)
    (folder / "cards.md").write_text("".join(cards))
    return folder


def reset(class_name=None, api=None):
    """Delete every vhost the classroom made (of one class, or all) with its queues, and each
    attendee's user; nothing else. Returns the accounts deleted."""
    api = api or management_api(timeout=10)
    users = {user["name"] for user in api.get("users")}
    deleted = []
    for vhost in class_vhosts(api, class_name):
        api.delete(f"vhosts/{quote(vhost['name'], safe='')}")
        if vhost["name"] in users:
            api.delete(f"users/{quote(vhost['name'], safe='')}")
        deleted.append(vhost["name"])
    return deleted


# -- progress -------------------------------------------------------------------------------------
def exercise_index(notebooks=NOTEBOOKS):
    """Every exercise of the lessons, in order: a DataFrame of ``exercise`` ("07.2"), ``check``
    and ``key`` (the check call's first argument when it is a literal name), read from each
    lesson's check cells (a code cell calling check_... after an *Exercise N.* prompt)."""
    rows = []
    for path in sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb")):
        number = None
        for cell in nbformat.read(path, as_version=4).cells:
            found = re.search(r"^\*Exercise (\d+)\.\*", cell.source, re.MULTILINE) if cell.cell_type == "markdown" else None
            if found:
                number = int(found.group(1))
            if cell.cell_type != "code" or number is None or "check_" not in cell.source:
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("check_"):
                    first = node.args[0] if node.args else None
                    key = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
                    rows.append({"exercise": f"{path.name[:2]}.{number}", "check": node.func.id, "key": key})
    return pd.DataFrame(rows, columns=["exercise", "check", "key"]).drop_duplicates()


def read_progress(api, vhosts):
    """Every progress record in these vhosts' ``course.progress`` queues, read through the
    management API and left in place, as a DataFrame sorted by time."""
    records = []
    for vhost in vhosts:
        try:
            messages = api.peek(PROGRESS_QUEUE, count=PROGRESS_LIMIT, vhost=vhost)
        except CourseError:
            continue  # no check run there yet: no queue
        for message in messages:
            try:
                record = json.loads(message["text"])
            except ValueError:
                continue
            records.append({**record, "vhost": vhost})
    columns = ["vhost", "attendee", "check", "key", "ok", "time"]
    return pd.DataFrame(records, columns=columns).sort_values("time").reset_index(drop=True)


def grid(records, index, accounts, now=None):
    """Attendees × exercises: ✅ or ❌ (the last outcome of each check call of the exercise; an
    exercise with two check calls is ✅ when both are), blank if not tried; and ``stuck``:
    minutes since the first ❌ of an exercise still not ✅ (the longest such one)."""
    now = time.time() if now is None else now
    exercises = list(dict.fromkeys(index["exercise"]))
    table = pd.DataFrame("", index=pd.Index(accounts, name="attendee"), columns=exercises)
    stuck = pd.Series(0.0, index=table.index, name="stuck (min)")
    # Each check call's last outcome for each attendee, and since when it has failed (if it still does).
    latest = {}
    keys = records["key"].fillna("").astype(str)
    for (account, check, key), rows in records.groupby([records["vhost"], records["check"], keys], sort=False):
        ok = rows["ok"].astype(bool)
        latest[account, check, key] = (bool(ok.iloc[-1]), None if ok.iloc[-1] else rows["time"][~ok].iloc[0])
    calls = {exercise: [(row.check, "" if pd.isna(row.key) else row.key) for row in rows.itertuples()]
             for exercise, rows in index.groupby("exercise", sort=False)}
    for account in table.index:
        for exercise, checks in calls.items():
            outcomes = [latest.get((account, check, key)) for check, key in checks]
            if all(outcome is None for outcome in outcomes):
                continue
            table.loc[account, exercise] = "✅" if all(outcome and outcome[0] for outcome in outcomes) else "❌"
            failing = [outcome[1] for outcome in outcomes if outcome and outcome[1] is not None]
            if failing:
                stuck[account] = max(stuck[account], round((now - min(failing)) / 60, 1))
    table["stuck (min)"] = stuck
    return table


def board_text(table):
    """The grid as text for a terminal: one column a lesson, one mark an exercise (✓ done, ✗ tried
    and not yet, · not tried), so that 17 lessons fit a projector's width; the attendee stuck
    longest marked."""
    marks = {"✅": "✓", "❌": "✗", "": "·"}   # one column wide in every terminal, unlike the emoji
    exercises = [column for column in table.columns if column != "stuck (min)"]
    lessons = list(dict.fromkeys(column.split(".")[0] for column in exercises))
    shown = pd.DataFrame({lesson: ["".join(marks[table.loc[attendee, column]] for column in exercises
                                           if column.startswith(f"{lesson}."))
                                   for attendee in table.index] for lesson in lessons}, index=table.index)
    longest = table["stuck (min)"].idxmax() if len(table) and table["stuck (min)"].max() > 0 else None
    shown["stuck (min)"] = [f"{value:g}" if value else "" for value in table["stuck (min)"]]
    shown[""] = ["◀ stuck longest" if attendee == longest else "" for attendee in table.index]
    done = (table[exercises] == "✅").sum().sum()
    if not len(table):
        return "No attendees in this class: check --class (the class names are in classroom/, and `create` makes one)."
    return (f"{len(table)} attendees, {done} exercises done; a column a lesson, a mark an exercise: "
            f"✓ done, ✗ not yet, · not tried\n" + shown.to_string())


def refreshed_grids(class_name=None, seconds=3 * 3600, every=2.0):
    """The class's grid, read anew every ``every`` seconds for ``seconds`` (at least once)."""
    api = management_api(timeout=10)
    index = exercise_index()
    stop_at = time.monotonic() + seconds
    while True:
        accounts = [vhost["name"] for vhost in class_vhosts(api, class_name)]
        yield grid(read_progress(api, accounts), index, accounts)
        if time.monotonic() >= stop_at:
            return
        time.sleep(every)


def board(class_name=None, seconds=3 * 3600, every=2.0, once=False, out=sys.stdout):
    """Print the live grid in a terminal every ``every`` seconds until ``seconds`` have passed (or once)."""
    for table in refreshed_grids(class_name, 0 if once else seconds, every):
        text = board_text(table)
        out.write(text + "\n" if once else "\033[H\033[J" + time.strftime("%H:%M:%S  ") + text + "\n")
        out.flush()


def board_html(table):
    """The grid as an HTML table for a notebook on the projector, the attendee stuck longest in red."""
    longest = table["stuck (min)"].idxmax() if len(table) and table["stuck (min)"].max() > 0 else None

    def colour(row):
        return ["background-color: #f8d7da" if row.name == longest else "" for _ in row]

    done = int((table.drop(columns="stuck (min)") == "✅").sum().sum())
    caption = f"{len(table)} attendees, {done} exercises done" + (f"; stuck longest: {longest}" if longest else "")
    return table.style.apply(colour, axis=1).format({"stuck (min)": "{:g}"}).set_caption(caption).to_html()


def show_board(class_name=None, seconds=3 * 3600, every=2.0):
    """The live grid in a notebook cell (for the projector): one table, redrawn in place every
    ``every`` seconds for ``seconds``. Returns the last grid."""
    from IPython.display import HTML, display

    handle = table = None
    for table in refreshed_grids(class_name, seconds, every):
        if handle is None:
            handle = display(HTML(board_html(table)), display_id=True)
        else:
            handle.update(HTML(board_html(table)))
    return table


def export(path, class_name=None):
    """Every record of the class as CSV: attendee, exercise, outcome, time (UTC)."""
    api = management_api(timeout=10)
    index = exercise_index()
    accounts = [vhost["name"] for vhost in class_vhosts(api, class_name)]
    records = read_progress(api, accounts)
    names = {(row.check, None if pd.isna(row.key) else row.key): row.exercise for row in index.itertuples()}
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["attendee", "exercise", "outcome", "time"])
        for row in records.itertuples():
            exercise = names.get((row.check, row.key if isinstance(row.key, str) else None), row.check)
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.time))
            writer.writerow([row.vhost, exercise, "✅" if row.ok else "❌", when])
    return len(records)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.ops.classroom", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="an account and a vhost for each attendee, and their .env files and cards")
    who = made.add_mutually_exclusive_group(required=True)
    who.add_argument("--count", type=int, help="this many attendees, attendee-01, attendee-02, ...")
    who.add_argument("--names", type=argparse.FileType(), help="a file with one attendee's name a line")
    made.add_argument("--host", help="the address attendees reach the broker at (default: the one in AMQP_URL)")
    made.add_argument("--folder", help="where to write the .env files and cards (default: classroom/<class>/)")
    shown = commands.add_parser("board", help="the live grid of attendees × exercises")
    shown.add_argument("--seconds", type=float, default=3 * 3600)
    shown.add_argument("--once", action="store_true", help="print the grid once and stop")
    exported = commands.add_parser("export", help="every outcome as CSV")
    exported.add_argument("path")
    commands.add_parser("reset", help="delete the class's users, vhosts and queues, and nothing else")
    for command in (made, shown, exported, commands.choices["reset"]):
        command.add_argument("--class", dest="class_name", default="workshop" if command is made else None,
                             help="the class's name (default: workshop; board, export and reset: every class)")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            started = time.monotonic()
            people = create(attendees_from(args.class_name, args.count, args.names), args.class_name)
            folder = write_files(people, args.class_name, host=args.host, folder=args.folder)
            print(f"Class {args.class_name}: {len(people)} attendees in {time.monotonic() - started:.1f} s. Their .env "
                  f"files and cards.md are in {folder}.")
        elif args.command == "board":
            board(args.class_name, seconds=args.seconds, once=args.once)
        elif args.command == "export":
            print(f"{export(args.path, args.class_name)} outcomes written to {args.path}.")
        else:
            deleted = reset(args.class_name)
            print(f"Deleted {len(deleted)} attendees' users and vhosts (with their queues).")
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
