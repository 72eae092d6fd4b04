"""The one way a check speaks: a ✅ line for what is right, a ❌ line for what is still wrong.

Every public check is wrapped in ``@check``: whatever goes wrong inside it (a missing queue, a
wrong type, a closed channel, a broker that stopped), the learner sees one ❌ line with the next
step, never a traceback, so the notebook's Run All goes on and the exercise can be tried again.

Also what several checks share: a queue's count once it has settled (``ready_count``), why a
queue would vanish (``short_lived``), and a learner's function run with a time limit
(``run_in_thread``).
"""

import functools
import threading
import time

from ..amqp import connect, queue_counts
from ..errors import CourseError
from ..management import management_api
from ..waiting import poll
from .progress import record_progress

# How long a count of messages must stand still before a check takes it as final: a copy a learner
# published right after the others is then counted too.
SETTLE = 0.5


# Every verdict printed in this process, in order, and each check's last run: its verdict and the
# answer it was given (lesson 16's drill runs the learner's functions that got a ✅).
_verdicts = []
_last_run = {}


def report(ok, praise, problem):
    """Print ``praise`` (if ok) or ``problem``, marked so a glance tells which."""
    _verdicts.append(bool(ok))
    print(f"✅ {praise}" if ok else f"❌ {problem}")


def passed_with(check_name, answer):
    """True if the last run of the check ``check_name`` said ✅, given ``answer`` (that very object)
    as its first argument."""
    ok, given = _last_run.get(check_name, (False, None))
    return ok and given is answer


def check(function):
    """Make an exercise check that never raises: an unexpected error becomes a ❌ line."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        said_before = len(_verdicts)
        _last_run[function.__name__] = (False, args[0] if args else None)
        try:
            function(*args, **kwargs)
            said = _verdicts[said_before:]
            _last_run[function.__name__] = (bool(said) and all(said), args[0] if args else None)
        except CourseError as error:
            report(False, "", f"{error}")
        except Exception as error:  # noqa: BLE001 - a check must never end in a traceback
            report(False, "", f"The check could not read your answer ({type(error).__name__}: {error}). "
                              "Re-run the exercise's cells from its first one, then this check.")
        record_progress(function.__name__, args, _last_run[function.__name__][0])
        return None

    checked.is_exercise_check = True
    return checked


def queue_or_none(name):
    try:
        return management_api().queue(name)
    except CourseError:
        return None


def short_lived(found, what):
    """Why a durable queue would still vanish (exclusive, auto-delete), or None."""
    name = found.get("name")
    if found.get("exclusive"):
        return (f"Queue '{name}' is exclusive: the broker deletes it, messages and all, when your connection closes, which "
                f"{what} must not allow. Run the exercise's first cell again and declare it with durable=True only.")
    if found.get("auto_delete"):
        return (f"Queue '{name}' is auto-delete: the broker deletes it when its last consumer goes, which {what} must not "
                "allow. Run the exercise's first cell again and declare it with durable=True only.")
    return None


def ready_count(queue, expected, wait=2.0, steady=0.0):
    """The ready messages of ``queue`` from the broker itself (a passive declare, no statistics lag),
    read again for up to ``wait`` seconds while fewer than ``expected`` (a publish may be on its way)
    and, with ``steady``, until the count has stood that long (dead letters arrive one by one)."""
    counts, since = [], [time.monotonic()]
    with connect(name="check") as connection:

        def enough():
            found = queue_counts(queue, connection)
            count = 0 if found is None else found.messages
            if counts and count != counts[-1]:
                since[0] = time.monotonic()
            counts.append(count)
            return count >= expected and time.monotonic() - since[0] >= steady

        poll(enough, wait, interval=0.05)
    return counts[-1]


def run_in_thread(function, *args):
    """Start ``function(*args)`` in a daemon thread; return the thread and a list that gets the
    error it ended with, if any. A check runs a learner's function this way, to stop waiting
    for it after a limit."""
    errors = []

    def run():
        try:
            function(*args)
        except Exception as error:  # noqa: BLE001 - the check reports it
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True, name="exercise-check")
    thread.start()
    return thread, errors
