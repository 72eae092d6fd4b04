"""The course's one way to wait: poll a condition until it holds, with a limit and a description.

    queue = wait_until(lambda: api.queue("tasks"), "queue 'tasks' to appear", timeout=10)

Returns the condition's first true value; after ``timeout`` seconds raises a CourseError that says
what was awaited and, with ``seen``, what was last seen. ``poll`` is the same loop for a caller
that reports what it found rather than raising (the exercise checks). Nothing in the course waits
without a limit, and no other loop in the helpers waits on the broker.

Introduced in lesson 02.
"""

import time

from .errors import CourseError


def poll(condition, timeout, interval=0.1):
    """Call ``condition()`` every ``interval`` seconds until it returns something true or
    ``timeout`` seconds have passed; return its last value, true or not. For a check that
    reports what it found either way; ``wait_until`` is the same wait, raising on a timeout."""
    stop_at = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= stop_at:
            return value
        time.sleep(interval)


def wait_until(condition, what, timeout=10.0, interval=0.1, seen=None):
    """Call ``condition()`` every ``interval`` seconds until it returns something true; return that.

    ``what`` completes "Waited N s for ..."; ``seen()``, if given, says what the last look found.
    """
    value = poll(condition, timeout, interval)
    if value:
        return value
    last = f" (last seen: {seen()})" if seen is not None else ""
    raise CourseError(f"Waited {timeout:g} s for {what}, in vain{last}.")
