"""The one way a check speaks: a ✅ line for what is right, a ❌ line for what is still wrong.

Every public check is wrapped in ``@check``: whatever goes wrong inside it (a missing queue, a
wrong type, a closed channel, a broker that stopped), the learner sees one ❌ line with the next
step, never a traceback, so the notebook's Run All goes on and the exercise can be tried again.
"""

import functools

from ..errors import CourseError
from ..management import management_api


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
