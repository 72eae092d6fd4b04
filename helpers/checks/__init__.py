"""Exercise checks: each says in plain words what is right, or what is still wrong.

A check prints one line, starting with a tick or a cross, and returns nothing (so a notebook
shows just that line); it never raises, so a learner can try again. Lessons import them from
here (``from helpers.checks import check_queue``); they are kept by part of the course:

- ``basics``: lessons 00-02      - ``routing``: lessons 07-09
- ``work_queues``: lessons 03-06 - ``monitoring``: lesson 10

Introduced in lesson 00.
"""

from .basics import check_binding, check_broker_version, check_enabled_plugins, check_queue, check_received
from .monitoring import check_alert_rule, check_queue_depths
from .report import queue_or_none, report
from .routing import check_dead_lettering, check_gave_up, check_kept_newest, check_order_total, check_routing
from .work_queues import (
    LONG_JOB_SECONDS,
    check_ack_after_work,
    check_every_job_done_once,
    check_fair_shares,
    check_failed_job_dropped,
    check_jobs_waiting,
    check_prefetch_choice,
    check_publish_safely,
    check_survives_restart,
    ready_count,
)

__all__ = [
    "report", "queue_or_none", "ready_count", "LONG_JOB_SECONDS",
    "check_queue", "check_received", "check_broker_version", "check_enabled_plugins", "check_binding",
    "check_jobs_waiting", "check_every_job_done_once", "check_prefetch_choice", "check_fair_shares",
    "check_ack_after_work", "check_failed_job_dropped", "check_survives_restart", "check_publish_safely",
    "check_routing", "check_order_total", "check_gave_up", "check_dead_lettering", "check_kept_newest",
    "check_queue_depths", "check_alert_rule",
]
