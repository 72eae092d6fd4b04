"""Lesson 13's props: where a queue lives in the cluster, and how long a queue had no leader.

The lesson shows the client side itself (a list of nodes to connect to, confirms, reconnecting);
these only read the cluster's account of its queues and measure.
"""

import time

import pandas as pd

from ..errors import CourseError
from ..waiting import wait_until


def queue_placement(api, names):
    """Each queue's type, the node that holds it (a classic queue) or leads it (a quorum queue),
    its members and which of them are online, from the management API."""
    running = {row["name"] for row in api.get("nodes") if row.get("running")}
    rows = []
    for name in names:
        found = api.queue(name)
        members = found.get("members") or [found.get("node")]
        online = found.get("online") or [member for member in members if member in running]  # a classic queue: its node
        rows.append({"queue": name, "type": found.get("type"), "leader (or home node)": found.get("leader") or found.get("node"),
                     "members": ", ".join(sorted(members)), "online": ", ".join(sorted(online))})
    return pd.DataFrame(rows).set_index("queue")


def leader_of(api, queue):
    """The node that leads ``queue`` now, or None while it has none (an election is on)."""
    try:
        found = api.queue(queue)
    except CourseError:
        return None
    leader = found.get("leader")
    return leader if leader and leader in (found.get("online") or []) else None


def time_without_leader(api, queue, old_leader, timeout=30.0):
    """Seconds from now until ``queue`` is led by a node other than ``old_leader`` (which was just
    lost), read every 0.1 s; returns (seconds, new leader). A CourseError after ``timeout``."""
    started = time.monotonic()

    def new_leader():
        leader = leader_of(api, queue)
        return leader if leader != old_leader else None

    leader = wait_until(new_leader, f"'{queue}' to have a new leader after {old_leader} was lost",
                        timeout=timeout, interval=0.1)
    return time.monotonic() - started, leader


def per_interval(times, since, seconds=0.5):
    """How many of ``times`` (monotonic) fell in each ``seconds``-long interval after ``since``."""
    series = pd.Series(1, index=[round((moment - since) // seconds * seconds, 3) for moment in times])
    counted = series.groupby(level=0).sum()
    full = pd.Index([round(step * seconds, 3) for step in range(int(max(counted.index, default=0) / seconds) + 1)])
    return counted.reindex(full, fill_value=0)
