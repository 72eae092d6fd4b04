"""Lesson 14's props: a moment to replay from, and made-up page-view events.

The lesson itself shows the stream calls (``queue_declare`` with ``x-queue-type: stream``,
``basic_qos``, ``consume`` with ``x-stream-offset``); these only set the scene.
"""

import datetime
import time
import uuid

PAGES = ["/", "/pricing", "/docs", "/blog", "/signup", "/login"]


def next_second():
    """Wait until the clock has passed the next whole second; return that second (UTC).

    A stream finds a timestamp to the second (an AMQP timestamp has no fraction), so events
    published before this call are older than the moment it returns, and events published after
    it are not."""
    now = time.time()
    moment = int(now) + 1
    time.sleep(moment - now + 0.05)
    return datetime.datetime.fromtimestamp(moment, tz=datetime.timezone.utc)


def page_views(count, start=0, user_prefix="user"):
    """``count`` page-view events, numbered from ``start``, each with an id of its own."""
    return [{"id": f"view-{uuid.uuid4().hex[:8]}", "n": number, "page": PAGES[number % len(PAGES)],
             "user": f"{user_prefix}-{number % 3 + 1}"} for number in range(start, start + count)]
