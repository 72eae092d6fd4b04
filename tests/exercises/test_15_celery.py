"""Lesson 15 (Celery): the exercise's check against wrong answers, with a real celery worker.

The check judges what the worker and the broker did with the learner's settings: a job lost when
the pool process is killed, or jobs taken out of the queue while the worker was busy, fail it
whatever the dict says."""

import pytest

from helpers import checks
from exercise_support import said, verdict

RELIABLE = {"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1}


def test_the_lessons_solution_passes(capsys):
    checks.check_reliable_celery(RELIABLE)
    assert "Every job was done" in said(capsys)


@pytest.mark.parametrize("wrong", [
    {},                                                      # Celery's defaults
    {"task_acks_late": True},                                # ack after the work, but a lost process still acks
    {"task_reject_on_worker_lost": True},                    # reject without acks_late does nothing
    {"task_acks_late": True, "worker_prefetch_multiplier": 1},
    {"task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1},
], ids=["defaults", "acks-late-only", "reject-only", "acks-late-and-prefetch", "reject-and-prefetch"])
def test_settings_that_lose_the_killed_job_fail(capsys, wrong):
    checks.check_reliable_celery(wrong)
    assert "lost when the pool process was killed" in said(capsys)


@pytest.mark.parametrize("multiplier", [4, 0], ids=["default-multiplier", "unlimited"])
def test_no_job_lost_but_every_job_taken_at_once_fails(capsys, multiplier):
    checks.check_reliable_celery({**RELIABLE, "worker_prefetch_multiplier": multiplier})
    assert "worker_prefetch_multiplier" in said(capsys)


def test_a_setting_that_does_not_limit_what_the_broker_sends_fails(capsys):
    # worker_disable_prefetch keeps Celery from reserving tasks, but the broker still sends them all
    checks.check_reliable_celery({"task_acks_late": True, "task_reject_on_worker_lost": True,
                                  "worker_disable_prefetch": True})
    assert "left in the queue" in said(capsys) or "only 0" in said(capsys)


@pytest.mark.parametrize("wrong, named", [
    ({"task_ack_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1}, "task_ack_late"),
    ({"CELERY_ACKS_LATE": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1}, "task_acks_late"),
    ({"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": {1}}, "plain"),
    ({1: True}, "no setting name"),
], ids=["misspelt", "old-upper-case-name", "not-json", "not-a-name"])
def test_a_dict_celery_would_not_take_fails_before_any_worker_starts(capsys, wrong, named):
    checks.check_reliable_celery(wrong)
    assert named in said(capsys)


@pytest.mark.parametrize("wrong", [None, [("task_acks_late", True)], "task_acks_late=True", RELIABLE.keys()],
                         ids=["nothing", "a-list", "a-string", "keys-only"])
def test_anything_but_a_dict_fails(capsys, wrong):
    checks.check_reliable_celery(wrong)
    assert verdict(capsys) == "❌"


def test_a_wrong_try_then_the_right_one(capsys):
    checks.check_reliable_celery({"task_acks_late": True})
    assert verdict(capsys) == "❌"
    checks.check_reliable_celery(RELIABLE)
    assert verdict(capsys) == "✅"
