"""The one way a check speaks: a ✅ line for what is right, a ❌ line for what is still wrong.

Every public check is wrapped in ``@check``: whatever goes wrong inside it (a missing queue, a
wrong type, a closed channel, a broker that stopped), the learner sees one ❌ line with the next
step, never a traceback, so the notebook's Run All goes on and the exercise can be tried again.
"""

import functools

from ..errors import CourseError
from ..management import management_api

# How long a count of messages must stand still before a check takes it as final: a copy a learner
# published right after the others is then counted too.
SETTLE = 0.5


def report(ok, praise, problem):
    """Print ``praise`` (if ok) or ``problem``, marked so a glance tells which."""
    print(f"✅ {praise}" if ok else f"❌ {problem}")


def check(function):
    """Make an exercise check that never raises: an unexpected error becomes a ❌ line."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        try:
            function(*args, **kwargs)
        except CourseError as error:
            report(False, "", f"{error}")
        except Exception as error:  # noqa: BLE001 - a check must never end in a traceback
            report(False, "", f"The check could not read your answer ({type(error).__name__}: {error}). "
                              "Re-run the exercise's cells from its first one, then this check.")
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
