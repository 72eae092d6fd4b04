"""The one way a check speaks: a ✅ line for what is right, a ❌ line for what is still wrong."""

from ..errors import CourseError
from ..management import management_api


def report(ok, praise, problem):
    """Print ``praise`` (if ok) or ``problem``, marked so a glance tells which."""
    print(f"✅ {praise}" if ok else f"❌ {problem}")


def queue_or_none(name):
    try:
        return management_api().queue(name)
    except CourseError:
        return None
