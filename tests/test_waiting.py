"""The one wait: it returns what it waited for, and gives up after its limit saying what it saw."""

import time

import pytest

from helpers.errors import CourseError
from helpers.waiting import poll, wait_until
from limits import NEVER_HANGS


def test_returns_the_first_true_value():
    values = iter([None, 0, [], "here"])
    assert wait_until(lambda: next(values), "a value", timeout=5, interval=0.01) == "here"


def test_gives_up_after_its_limit_and_says_what_it_saw():
    started = time.monotonic()
    with pytest.raises(CourseError, match=r"Waited 0.2 s for the queue to fill, in vain \(last seen: 3 messages\)\."):
        wait_until(lambda: False, "the queue to fill", timeout=0.2, interval=0.05, seen=lambda: "3 messages")
    assert time.monotonic() - started < NEVER_HANGS


def test_poll_returns_the_last_value_when_time_runs_out_and_never_raises():
    values = iter(range(1000))
    assert poll(lambda: next(values) > 10**6, timeout=0.1, interval=0.01) is False
    assert poll(lambda: "found", timeout=0.1) == "found"
