"""Lesson 09 (dead letters): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import connect, publish
from helpers.management import management_api
from exercise_support import EVERY_RUN, fresh, verdict


REFUNDS = ("test-refunds", "test-refunds.dead")
DLX = "test-refunds.dlx"


def refunds_setup(channel, dlx_durable=True, with_argument=True, dead_durable=True, work_durable=True, dlx_type="fanout",
                  dead_letter_exchange=DLX, routing_key=None, bind_key="", also_bound=(), dead_flags=None, work_flags=None):
    channel.exchange_declare(DLX, dlx_type, durable=dlx_durable)
    channel.queue_declare("test-refunds.dead", durable=dead_durable, **(dead_flags or {}))
    channel.queue_bind("test-refunds.dead", DLX, routing_key=bind_key)
    arguments = {"x-dead-letter-exchange": dead_letter_exchange} if with_argument else {}
    if routing_key is not None:
        arguments["x-dead-letter-routing-key"] = routing_key
    channel.queue_declare("test-refunds", durable=work_durable, arguments=arguments or None, **(work_flags or {}))
    for queue in also_bound:
        channel.queue_bind(queue, DLX, routing_key=bind_key)


def check_refunds():
    checks.check_dead_lettering("test-refunds", "test-refunds.dead", wait=3, dlx=DLX, dlx_type="fanout")


DEAD_LETTERING_WRONG = {
    "left_empty": None,
    "exchange_not_durable": dict(dlx_durable=False),
    "no_dead_letter_argument": dict(with_argument=False),
    "dead_letter_queue_not_durable": dict(dead_durable=False),
    "work_queue_not_durable": dict(work_durable=False),
    "default_exchange_with_a_routing_key": dict(dead_letter_exchange="", routing_key="test-refunds.dead"),
    "default_exchange_without_a_routing_key": dict(dead_letter_exchange=""),
    "direct_exchange_bound_with_the_key": dict(dlx_type="direct", bind_key="test-refunds"),
    "topic_exchange_bound_with_hash": dict(dlx_type="topic", bind_key="#"),
    "the_work_queue_bound_to_its_own_dlx_too": dict(also_bound=["test-refunds"]),
    "work_queue_durable_but_auto_delete": dict(work_flags={"auto_delete": True}),
    "dead_letter_queue_durable_but_auto_delete": dict(dead_flags={"auto_delete": True}),
    "dead_letter_queue_durable_but_exclusive": dict(dead_flags={"exclusive": True}),
}


@pytest.mark.parametrize("answer", list(DEAD_LETTERING_WRONG.values()), ids=list(DEAD_LETTERING_WRONG))
def test_09_exercise_1_dead_lettering_wrong(channel, capsys, answer):
    fresh(channel, *REFUNDS, exchanges=[DLX])
    if answer is not None:
        refunds_setup(channel, **answer)
    check_refunds()
    assert verdict(capsys) == "❌"
    fresh(channel, *REFUNDS, exchanges=[DLX])


def test_09_exercise_1_dead_lettering_right(channel, capsys):
    fresh(channel, *REFUNDS, exchanges=[DLX])
    refunds_setup(channel)
    check_refunds()
    assert verdict(capsys) == "✅"
    fresh(channel, *REFUNDS, exchanges=[DLX])


def test_09_exercise_1_the_dead_letter_queue_not_bound(channel, capsys):
    fresh(channel, *REFUNDS, exchanges=[DLX])
    channel.exchange_declare(DLX, "fanout", durable=True)
    channel.queue_declare("test-refunds.dead", durable=True)
    channel.queue_declare("test-refunds", durable=True, arguments={"x-dead-letter-exchange": DLX})
    check_refunds()
    out = capsys.readouterr().out
    assert out.startswith("❌") and "queue_bind" in out
    fresh(channel, *REFUNDS, exchanges=[DLX])


def test_09_exercise_1_another_exchange_name(channel, capsys):
    fresh(channel, *REFUNDS, exchanges=[DLX, "test-refunds-dlx"])
    channel.exchange_declare("test-refunds-dlx", "fanout", durable=True)
    channel.queue_declare("test-refunds.dead", durable=True)
    channel.queue_bind("test-refunds.dead", "test-refunds-dlx")
    channel.queue_declare("test-refunds", durable=True, arguments={"x-dead-letter-exchange": "test-refunds-dlx"})
    check_refunds()
    assert verdict(capsys) == "❌"
    fresh(channel, *REFUNDS, exchanges=[DLX, "test-refunds-dlx"])


def test_09_exercise_1_a_second_try_after_a_wrong_one(channel, capsys):
    fresh(channel, *REFUNDS, exchanges=[DLX])
    refunds_setup(channel, dead_letter_exchange="", routing_key="test-refunds.dead")
    check_refunds()
    assert verdict(capsys) == "❌"
    fresh(channel, *REFUNDS, exchanges=[DLX])  # the given cell again
    refunds_setup(channel)
    check_refunds()
    assert verdict(capsys) == "✅"
    fresh(channel, *REFUNDS, exchanges=[DLX])


SENT = [f"price {number}" for number in range(1, 6)]
RIGHT = {"x-max-length": 3, "x-overflow": "drop-head"}

KEPT_NEWEST_WRONG = {
    "left_empty": (None, SENT),
    "reject_publish_keeps_the_oldest": ({"x-max-length": 3, "x-overflow": "reject-publish"}, SENT),
    "reject_publish_dlx": ({"x-max-length": 3, "x-overflow": "reject-publish-dlx"}, SENT),
    "limit_of_five": ({"x-max-length": 5}, SENT),
    "no_limit": ({}, SENT),
    "limit_one_below": ({"x-max-length": 2, "x-overflow": "drop-head"}, SENT),
    "limit_one_above": ({"x-max-length": 4, "x-overflow": "drop-head"}, SENT),
    "a_limit_in_bytes": ({"x-max-length-bytes": 21}, SENT),
    "published_in_reverse": (RIGHT, SENT[::-1]),
    "published_the_newest_three_only": (RIGHT, SENT[-3:]),
    "published_the_oldest_three_only": (RIGHT, SENT[:3]),
    "published_other_texts": (RIGHT, [text.replace("price ", "") for text in SENT]),
    "published_the_oldest_twice": (RIGHT, SENT[:1] + SENT),
    "its_own_dead_letter_exchange": ({**RIGHT, "x-dead-letter-exchange": ""}, SENT),
}


@pytest.fixture(scope="module")
def lesson_channel():
    """One channel for every try, as the lesson's: a channel closed in between could still send the
    broker statistics for the queue it published to after that queue was deleted and made again."""
    with connect(name="pytest-prices") as connection:
        yield connection.channel()
    api = management_api()
    api.delete(api.vhost_path("policies", "test-prices-dropped"))


def fill_prices(channel, arguments, texts, durable=True):
    """The exercise's given cell (a fresh 'test-prices', a fresh queue for what it pushes out, and
    the policy that sends it there), then an answer: the queue declared with ``arguments``, and
    ``texts`` published to it."""
    fresh(channel, "test-prices", "test-prices.dropped")
    channel.queue_declare("test-prices.dropped", durable=True)
    api = management_api()
    api.put(api.vhost_path("policies", "test-prices-dropped"),
            {"pattern": "^test-prices$", "apply-to": "queues",
             "definition": {"dead-letter-exchange": "", "dead-letter-routing-key": "test-prices.dropped"}})
    if arguments is not None:
        channel.queue_declare("test-prices", durable=durable, arguments=arguments)
        for text in texts:
            publish(channel, "test-prices", text, persistent=True)


@pytest.mark.parametrize("arguments, texts", list(KEPT_NEWEST_WRONG.values()), ids=list(KEPT_NEWEST_WRONG))
def test_09_exercise_2_kept_newest_wrong(lesson_channel, capsys, arguments, texts):
    fill_prices(lesson_channel, arguments, texts)
    checks.check_kept_newest("test-prices", SENT, limit=3)
    assert verdict(capsys) == "❌"
    fresh(lesson_channel, "test-prices", "test-prices.dropped")


def test_09_exercise_2_queue_not_durable(lesson_channel, capsys):
    fill_prices(lesson_channel, RIGHT, SENT, durable=False)
    checks.check_kept_newest("test-prices", SENT, limit=3)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "durable" in out
    fresh(lesson_channel, "test-prices", "test-prices.dropped")


# What was pushed out is dead-lettered a moment after each publish: these run EVERY_RUN times each, so
# that neither verdict depends on when it arrives.
@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_09_exercise_2_every_text_published_twice(lesson_channel, capsys, attempt):
    fill_prices(lesson_channel, RIGHT, SENT + SENT)
    checks.check_kept_newest("test-prices", SENT, limit=3)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "pushed out ['price 1', 'price 2', 'price 3', 'price 4', 'price 5', 'price 1', 'price 2']" in out
    fresh(lesson_channel, "test-prices", "test-prices.dropped")


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_09_exercise_2_kept_newest_right(lesson_channel, capsys, attempt):
    fill_prices(lesson_channel, RIGHT, SENT)
    checks.check_kept_newest("test-prices", SENT, limit=3)
    assert verdict(capsys) == "✅"
    fresh(lesson_channel, "test-prices", "test-prices.dropped")


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_09_exercise_2_a_second_try_on_a_fresh_channel(capsys, attempt):
    """As the given cell does (lesson.new_channel()): the first try's channel closed just before the
    queue is deleted and made again; what that channel published must not count for the second try."""
    with connect(name="pytest-prices-first-try") as first:
        fill_prices(first.channel(), RIGHT, SENT + SENT)
    with connect(name="pytest-prices-second-try") as second:
        fill_prices(second.channel(), RIGHT, SENT)
        checks.check_kept_newest("test-prices", SENT, limit=3)
        assert verdict(capsys) == "✅"
        fresh(second.channel(), "test-prices")


def test_09_exercise_2_a_second_try_without_starting_over(lesson_channel, capsys):
    fill_prices(lesson_channel, RIGHT, SENT[::-1])
    checks.check_kept_newest("test-prices", SENT, limit=3)
    assert verdict(capsys) == "❌"
    for text in SENT:  # the right texts, on top of the wrong ones
        publish(lesson_channel, "test-prices", text, persistent=True)
    checks.check_kept_newest("test-prices", SENT, limit=3)
    assert verdict(capsys) == "❌"
    fill_prices(lesson_channel, RIGHT, SENT)  # the given cell again, then the right answer
    checks.check_kept_newest("test-prices", SENT, limit=3)
    assert verdict(capsys) == "✅"
    fresh(lesson_channel, "test-prices", "test-prices.dropped")
