"""Lesson 02 (hello, queue): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import drain, publish
from helpers.lesson import Lesson
from helpers.management import management_api
from helpers.waiting import poll
from exercise_support import EVERY_RUN, fresh, said, verdict

TEXTS = ["one", "two", "three"]


def given_empty(channel):
    """Exercise 1's given cell: 'hello' anew, durable and empty."""
    fresh(channel, "hello")
    channel.queue_declare(queue="hello", durable=True)


@pytest.fixture
def hello(channel):
    given_empty(channel)
    yield channel
    fresh(channel if channel.is_open else channel.connection.channel(), "hello")  # exercise 2 opens channels anew


def check_three():
    checks.check_messages("hello", TEXTS, persistent=True)


@pytest.mark.parametrize("texts, persistent, expected", [
    ([], True, "❌"), (["one", "two", "three"], False, "❌"), (["one", "three", "two"], True, "❌"),
    (["one", "two", "three", "one"], True, "❌"), (["one", "two", "three"], True, "✅"),
])
def test_02_exercise_1_three_persistent_messages(hello, capsys, texts, persistent, expected):
    for text in texts:
        publish(hello, "hello", text, persistent=persistent)
    check_three()
    assert verdict(capsys) == expected


def publishes(*texts, persistent=True, queue="hello"):
    def answer(channel):
        for text in texts:
            publish(channel, queue, text, persistent=persistent)
    return answer


def one_of_them_transient(channel):
    publish(channel, "hello", "one", persistent=True)
    publish(channel, "hello", "two", persistent=False)
    publish(channel, "hello", "three", persistent=True)


def hello_made_not_durable(channel):
    channel.queue_delete("hello")
    channel.queue_declare(queue="hello", durable=False)
    publishes(*TEXTS)(channel)


def hello_made_exclusive(channel):
    channel.queue_delete("hello")
    channel.queue_declare(queue="hello", durable=True, exclusive=True)
    publishes(*TEXTS)(channel)


def hello_made_auto_delete(channel):
    channel.queue_delete("hello")
    channel.queue_declare(queue="hello", durable=True, auto_delete=True)
    publishes(*TEXTS)(channel)


def one_message_with_all_three(channel):
    publish(channel, "hello", "one two three", persistent=True)


@pytest.mark.parametrize("answer", [
    pytest.param(publishes("one", "two"), id="counts_a_subset"),
    pytest.param(publishes(*TEXTS, "three"), id="counts_an_extra_copy_of_the_last"),
    pytest.param(publishes(*TEXTS, *TEXTS), id="counts_published_twice"),
    pytest.param(one_message_with_all_three, id="counts_one_message_with_the_three_texts"),
    pytest.param(publishes("One", "Two", "Three"), id="content_other_texts"),
    pytest.param(publishes("three", "two", "one"), id="content_in_reverse_order"),
    pytest.param(one_of_them_transient, id="persistence_one_of_them_transient"),
    pytest.param(hello_made_not_durable, id="topology_hello_made_not_durable"),
    pytest.param(hello_made_exclusive, id="topology_hello_made_durable_but_exclusive"),
    pytest.param(hello_made_auto_delete, id="topology_hello_made_durable_but_auto_delete"),
    pytest.param(publishes(*TEXTS, queue="hello2"), id="published_to_another_queue"),
    pytest.param(lambda channel: channel.queue_delete("hello"), id="topology_hello_deleted"),
])
def test_02_exercise_1_wrong_answers(hello, capsys, answer):
    answer(hello)
    check_three()
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_02_exercise_1_an_extra_copy_fails_on_every_run(hello, capsys, attempt):
    given_empty(hello)
    publishes(*TEXTS, "three")(hello)
    check_three()
    assert verdict(capsys) == "❌"


def test_02_exercise_1_a_second_try_after_a_wrong_one(hello, capsys):
    hello_made_not_durable(hello)
    check_three()
    assert verdict(capsys) == "❌"
    given_empty(hello)
    publishes(*TEXTS)(hello)
    check_three()
    assert verdict(capsys) == "✅"


@pytest.fixture
def lesson(hello):
    """What start_lesson gives a lesson: exercise 2's given cell opens its channel with new_channel."""
    return Lesson(hello.connection, hello, management_api(), "")


def given_three(lesson):
    """Exercise 2's given cell: a new channel, and 'hello' anew with three messages. Returns the channel."""
    channel = lesson.new_channel()
    channel.queue_delete("hello")
    channel.queue_declare(queue="hello", durable=True)
    for text in ["one", "two", "three"]:
        publish(channel, "hello", text, persistent=True)
    return channel


def check_exercise_2(received, channel):
    checks.check_received(received, TEXTS, queue="hello", channel=channel, wait=4)


def received_left_empty(channel):
    return None


def received_typed_in_queue_full(channel):
    return ["one", "two", "three"]


def received_typed_in_queue_purged(channel):
    channel.queue_purge("hello")
    return ["one", "two", "three"]


def received_messages_not_texts(channel):
    return drain(channel, "hello", idle_timeout=1.0, deadline=2)


def received_right(channel):
    return [message.text for message in drain(channel, "hello", idle_timeout=1.0, deadline=2)]


@pytest.mark.parametrize("answer, expected", [
    (received_left_empty, "❌"), (received_typed_in_queue_full, "❌"), (received_typed_in_queue_purged, "❌"),
    (received_messages_not_texts, "❌"), (received_right, "✅"),
])
def test_02_exercise_2_received(lesson, capsys, answer, expected):
    channel = given_three(lesson)
    check_exercise_2(answer(channel), channel)
    assert verdict(capsys) == expected


def received_with_auto_ack(channel):
    texts = []
    for method, properties, body in channel.consume("hello", auto_ack=True, inactivity_timeout=1.0):
        if method is None:
            break
        texts.append(body.decode())
    channel.cancel()
    return texts


def received_with_basic_get_auto_ack(channel):
    texts = []
    for _ in range(3):
        method, properties, body = channel.basic_get("hello", auto_ack=True)
        texts.append(body.decode())
    return texts


def received_never_acked(channel):
    return [message.text for message in drain(channel, "hello", idle_timeout=1.0, deadline=2, ack=False)]


def received_hard_coded_delivery_tag(channel):
    texts = []
    for _ in range(3):
        method, properties, body = channel.basic_get("hello", auto_ack=False)
        texts.append(body.decode())
    channel.basic_ack(delivery_tag=1)  # the first one's tag, typed in: the other two stay unacked
    return texts


def received_consumer_left_on(channel):
    texts = []
    for method, properties, body in channel.consume("hello", inactivity_timeout=1.0):
        if method is None:
            break  # leaves the loop, but the consumer stays registered with the broker
        channel.basic_ack(method.delivery_tag)
        texts.append(body.decode())
    return texts


def received_a_subset(channel):
    return [message.text for message in drain(channel, "hello", max_messages=2, idle_timeout=1.0, deadline=2)]


def received_a_subset_the_rest_purged(channel):
    texts = received_a_subset(channel)
    channel.queue_purge("hello")
    return texts


def received_extra_copies(channel):
    texts = received_right(channel)
    return texts + texts


def received_only_the_first_text_kept(channel):
    return received_right(channel)[:1]


def received_reversed(channel):
    return list(reversed(received_right(channel)))


def received_drained_twice(channel):
    received_right(channel)
    return received_right(channel)  # the second drain finds nothing


@pytest.mark.parametrize("answer", [
    pytest.param(received_with_auto_ack, id="acks_auto_ack_consume"),
    pytest.param(received_with_basic_get_auto_ack, id="acks_auto_ack_basic_get"),
    pytest.param(received_never_acked, id="acks_taken_but_never_acked"),
    pytest.param(received_hard_coded_delivery_tag, id="acks_a_hard_coded_delivery_tag"),
    pytest.param(received_consumer_left_on, id="timeout_the_consume_never_ends_its_consumer_stays"),
    pytest.param(received_a_subset, id="counts_a_subset_the_rest_left_in_the_queue"),
    pytest.param(received_a_subset_the_rest_purged, id="counts_a_subset_the_rest_purged"),
    pytest.param(received_extra_copies, id="counts_extra_copies_in_the_list"),
    pytest.param(received_only_the_first_text_kept, id="counts_all_acked_but_a_subset_kept"),
    pytest.param(received_reversed, id="content_in_another_order"),
    pytest.param(received_drained_twice, id="content_drained_twice_the_list_of_the_second"),
])
def test_02_exercise_2_wrong_answers(lesson, capsys, answer):
    channel = given_three(lesson)
    check_exercise_2(answer(channel), channel)
    assert verdict(capsys) == "❌"


def test_02_exercise_2_drained_on_a_channel_of_its_own(lesson, capsys):
    """The acks the check counts are those of `channel`, the one the given cell opened."""
    channel = given_three(lesson)
    check_exercise_2(received_right(lesson.connection.channel()), channel)
    assert verdict(capsys) == "❌"


def test_02_exercise_2_an_auto_acked_message_acked_again_closes_the_channel(lesson, capsys):
    channel = given_three(lesson)
    received = received_with_basic_get_auto_ack(channel)
    channel.basic_ack(delivery_tag=1)  # unknown to the broker: it closes the channel (PRECONDITION_FAILED)
    poll(lambda: channel.is_closed or channel.connection.process_data_events(0.1), 5, interval=0.1)
    check_exercise_2(received, channel)
    assert verdict(capsys) == "❌"


def test_02_exercise_2_a_second_try_after_a_wrong_one(lesson, capsys):
    channel = given_three(lesson)
    check_exercise_2(received_with_auto_ack(channel), channel)
    assert verdict(capsys) == "❌"
    channel = given_three(lesson)
    check_exercise_2(received_right(channel), channel)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_02_exercise_2_a_right_try_then_an_auto_ack_one(lesson, capsys, attempt):
    """Each try after the given cell is judged by its own channel's counters: the acks of the one
    before never count for the next, and the right answer's are seen however late they come."""
    channel = given_three(lesson)
    check_exercise_2(received_right(channel), channel)
    line = said(capsys)
    assert line[0] == "✅", line
    channel = given_three(lesson)
    check_exercise_2(received_with_auto_ack(channel), channel)
    assert verdict(capsys) == "❌"


def test_02_exercise_2_a_typed_in_list_after_a_right_try_on_the_same_channel(lesson, capsys):
    """The channel's counters still hold the right try's acks; the next answer, typed in, is judged
    only after the given cell has opened a new channel and refilled the queue."""
    channel = given_three(lesson)
    check_exercise_2(received_right(channel), channel)
    assert verdict(capsys) == "✅"
    check_exercise_2(received_typed_in_queue_full(channel), channel)
    assert verdict(capsys) == "❌"
    channel = given_three(lesson)
    check_exercise_2(received_typed_in_queue_full(channel), channel)
    assert verdict(capsys) == "❌"
