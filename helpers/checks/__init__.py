"""Exercise checks: each says in plain words what is right, or what is still wrong.

A check looks at what the broker holds (messages peeked with their properties, queue and
exchange arguments, bindings, a consumer's prefetch, a server's own record of what it served),
never only at a value the learner could type. It prints one line, starting with ✅ or ❌, and
returns nothing; it never raises (``report.check``), so a learner can try again. Lessons import
them from here (``from helpers.checks import check_messages``); they are kept by part of the course:

- ``basics``: lessons 00-02        - ``reliability``: lessons 05-06
- ``work_queues``: lessons 03-04   - ``routing``: lessons 07-09
- ``monitoring``: lesson 10         - ``connections``: lesson 11
- ``security``: lesson 12          - ``clusters``: lesson 13
- ``streams``: lesson 14           - ``celery``: lesson 15
- ``capstone``: lesson 16

Each module lists its checks in ``__all__``.

Introduced in lesson 00.
"""

from .basics import *  # noqa: F401,F403
from .capstone import *  # noqa: F401,F403
from .celery import *  # noqa: F401,F403
from .clusters import *  # noqa: F401,F403
from .connections import *  # noqa: F401,F403
from .monitoring import *  # noqa: F401,F403
from .reliability import *  # noqa: F401,F403
from .report import check, queue_or_none, report  # noqa: F401
from .routing import *  # noqa: F401,F403
from .security import *  # noqa: F401,F403
from .streams import *  # noqa: F401,F403
from .work_queues import *  # noqa: F401,F403
from . import basics, capstone, celery, clusters, connections, monitoring, reliability, routing, security, streams, work_queues

__all__ = ["report", "check", "queue_or_none"]
for _module in (basics, work_queues, reliability, routing, monitoring, connections, security, clusters, streams, celery, capstone):
    __all__ += _module.__all__
