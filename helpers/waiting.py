"""The course's one way to wait: poll a condition until it holds, with a limit and a description.

    queue = wait_until(lambda: api.queue("tasks"), "queue 'tasks' to appear", timeout=10)

Returns the condition's first true value; after ``timeout`` seconds raises a CourseError that says
what was awaited and, with ``seen``, what was last seen. Nothing in the course waits without a limit.

Introduced in lesson 02.
"""

import time

from .errors import CourseError


def wait_until(condition, what, timeout=10.0, interval=0.1, seen=None):
    """Call ``condition()`` every ``interval`` seconds until it returns something true; return that.

    ``what`` completes "Waited N s for ..."; ``seen()``, if given, says what the last look found.
    """
    stop_at = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= stop_at:
            last = f" (last seen: {seen()})" if seen is not None else ""
            raise CourseError(f"Waited {timeout:g} s for {what}, in vain{last}.")
        time.sleep(interval)
