"""Lesson 09 (dead letters): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import publish
from exercise_support import verdict, fresh


REFUNDS = ("test-refunds", "test-refunds.dead")


def refunds_setup(channel, dlx_durable=True, with_argument=True, dead_durable=True):
    channel.exchange_declare("test-refunds.dlx", "fanout", durable=dlx_durable)
    channel.queue_declare("test-refunds.dead", durable=dead_durable)
    channel.queue_bind("test-refunds.dead", "test-refunds.dlx")
    arguments = {"x-dead-letter-exchange": "test-refunds.dlx"} if with_argument else None
    channel.queue_declare("test-refunds", durable=True, arguments=arguments)


@pytest.mark.parametrize("answer, expected", [
    (None, "❌"), (dict(dlx_durable=False), "❌"), (dict(with_argument=False), "❌"), (dict(dead_durable=False), "❌"),
    (dict(), "✅"),
])
def test_09_exercise_1_dead_lettering(channel, capsys, answer, expected):
    fresh(channel, *REFUNDS, exchanges=["test-refunds.dlx"])
    if answer is not None:
        refunds_setup(channel, **answer)
    checks.check_dead_lettering("test-refunds", "test-refunds.dead", wait=3)
    assert verdict(capsys) == expected
    fresh(channel, *REFUNDS, exchanges=["test-refunds.dlx"])


@pytest.mark.parametrize("arguments, expected", [
    (None, "❌"), ({"x-max-length": 3, "x-overflow": "reject-publish"}, "❌"), ({"x-max-length": 5}, "❌"), ({}, "❌"),
    ({"x-max-length": 3, "x-overflow": "drop-head"}, "✅"),
])
def test_09_exercise_2_kept_newest(channel, capsys, arguments, expected):
    sent = [f"price {number}" for number in range(1, 6)]
    fresh(channel, "test-prices")
    if arguments is not None:
        channel.queue_declare("test-prices", durable=True, arguments=arguments)
        for text in sent:
            publish(channel, "test-prices", text, persistent=True)
    checks.check_kept_newest("test-prices", sent, limit=3)
    assert verdict(capsys) == expected
    fresh(channel, "test-prices")
