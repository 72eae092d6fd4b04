"""Lesson 01 (why a broker): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.amqp import publish
from exercise_support import EVERY_RUN, fresh, verdict

EVENT = {"order": 6, "email": "customer6@example.com"}


def given(channel):
    """The exercises' given cells: shop.events and email.jobs as the lesson made them, no audit.log."""
    fresh(channel, "audit.log", "email.jobs", exchanges=["shop.events"])
    channel.exchange_declare(exchange="shop.events", exchange_type="direct", durable=True)
    channel.queue_declare(queue="email.jobs", durable=True)
    channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.created")


@pytest.fixture
def shop(channel):
    given(channel)
    yield channel
    fresh(channel, "audit.log", "email.jobs", exchanges=["shop.events"])


def audit_right(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)


def audit_not_durable(channel):
    channel.queue_declare(queue="audit.log", durable=False)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)


def audit_straight_to_the_queue(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="audit.log", body=EVENT, persistent=True)


def audit_not_bound(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    publish(channel, routing_key="audit.log", body=EVENT, persistent=True)


def check_audit():
    checks.check_audit_trail("shop.events", "audit.log", "order.created", event=EVENT)


@pytest.mark.parametrize("answer, expected", [
    (lambda channel: None, "❌"), (audit_not_durable, "❌"), (audit_straight_to_the_queue, "❌"),
    (audit_not_bound, "❌"), (audit_right, "✅"),
])
def test_01_exercise_1_audit_trail(shop, capsys, answer, expected):
    answer(shop)
    check_audit()
    assert verdict(capsys) == expected


def bind_audit(channel, *keys, exchange="shop.events"):
    channel.queue_declare(queue="audit.log", durable=True)
    for key in keys:
        channel.queue_bind(queue="audit.log", exchange=exchange, routing_key=key)


def remake_shop_events(channel, kind, durable):
    channel.exchange_delete("shop.events")
    channel.exchange_declare(exchange="shop.events", exchange_type=kind, durable=durable)


def transient_event(channel):
    bind_audit(channel, "order.created")
    publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=False)


def published_twice(channel):
    bind_audit(channel, "order.created")
    for _ in range(2):
        publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)


def to_the_exchange_and_straight_to_the_queue(channel):
    bind_audit(channel, "order.created")
    publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)
    publish(channel, routing_key="audit.log", body=EVENT, persistent=True)


def body(value):
    def answer(channel):
        bind_audit(channel, "order.created")
        publish(channel, routing_key="order.created", body=value, exchange="shop.events", persistent=True)
    return answer


def with_an_extra_binding(*keys, exchange="shop.events"):
    def answer(channel):
        bind_audit(channel, "order.created")
        bind_audit(channel, *keys, exchange=exchange)
        publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)
    return answer


def shop_events_made_anew(kind, durable):
    def answer(channel):
        remake_shop_events(channel, kind, durable)
        bind_audit(channel, "order.created")
        publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)
    return answer


def bound_and_published_with_another_key(channel):
    bind_audit(channel, "order.new")
    publish(channel, routing_key="order.new", body=EVENT, exchange="shop.events", persistent=True)


def bound_and_published_with(key):
    def answer(channel):
        bind_audit(channel, key)
        publish(channel, routing_key=key, body=EVENT, exchange="shop.events", persistent=True)
    return answer


def bound_but_nothing_published(channel):
    bind_audit(channel, "order.created")


def audit_log_declared(**settings):
    def answer(channel):
        channel.queue_declare(queue="audit.log", durable=True, **settings)
        channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
        publish(channel, routing_key="order.created", body=EVENT, exchange="shop.events", persistent=True)
    return answer


AUDIT_WRONG = [
    pytest.param(transient_event, id="persistence_the_event_is_transient"),
    pytest.param(published_twice, id="counts_extra_copies_published_twice"),
    pytest.param(to_the_exchange_and_straight_to_the_queue, id="counts_to_the_exchange_and_straight_to_the_queue"),
    pytest.param(body({"order": 6}), id="content_only_the_order_id"),
    pytest.param(body({"order": 7, "email": "customer7@example.com"}), id="content_another_order"),
    pytest.param(body({**EVENT, "status": "created"}), id="content_a_field_more"),
    pytest.param(body("order.created"), id="content_the_routing_key_as_body"),
    pytest.param(body(str(EVENT)), id="content_a_python_repr_not_json"),
    pytest.param(with_an_extra_binding("order.cancelled"), id="binding_an_extra_key_on_shop_events"),
    pytest.param(with_an_extra_binding("order.created", exchange="amq.direct"), id="binding_also_to_amq_direct"),
    pytest.param(shop_events_made_anew("fanout", True), id="topology_shop_events_made_a_fanout_exchange"),
    pytest.param(shop_events_made_anew("topic", True), id="topology_shop_events_made_a_topic_exchange"),
    pytest.param(shop_events_made_anew("direct", False), id="topology_shop_events_made_not_durable"),
    pytest.param(bound_and_published_with_another_key, id="binding_and_event_with_another_key"),
    pytest.param(bound_and_published_with("order"), id="binding_and_event_a_word_short"),
    pytest.param(bound_and_published_with("order.created.eu"), id="binding_and_event_a_word_longer"),
    pytest.param(bound_and_published_with("shop.created"), id="binding_and_event_another_first_word"),
    pytest.param(bound_but_nothing_published, id="counts_bound_but_nothing_published"),
    pytest.param(audit_log_declared(exclusive=True), id="topology_audit_log_durable_but_exclusive"),
    pytest.param(audit_log_declared(auto_delete=True), id="topology_audit_log_durable_but_auto_delete"),
    pytest.param(lambda channel: remake_shop_events(channel, "direct", True) or channel.exchange_delete("shop.events"),
                 id="topology_shop_events_deleted"),
]


@pytest.mark.parametrize("answer", AUDIT_WRONG)
def test_01_exercise_1_wrong_answers(shop, capsys, answer):
    answer(shop)
    check_audit()
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("attempt", range(EVERY_RUN))
def test_01_exercise_1_extra_copies_fail_on_every_run(shop, capsys, attempt):
    given(shop)
    published_twice(shop)
    check_audit()
    assert verdict(capsys) == "❌"


def test_01_exercise_1_a_second_try_after_a_wrong_one(shop, capsys):
    audit_straight_to_the_queue(shop)
    check_audit()
    assert verdict(capsys) == "❌"
    given(shop)
    audit_right(shop)
    check_audit()
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("wrong", [shop_events_made_anew("fanout", True), published_twice, transient_event])
def test_01_exercise_1_the_given_cell_undoes_any_wrong_try(shop, capsys, wrong):
    wrong(shop)
    given(shop)
    audit_right(shop)
    check_audit()
    assert verdict(capsys) == "✅"


def check_email_binding():
    checks.check_binding("shop.events", "email.jobs", "order.cancelled", keep=["order.created"])


@pytest.mark.parametrize("answer, expected", [
    (lambda channel: None, "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.canceled"), "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="amq.direct", routing_key="order.cancelled"), "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.cancelled"), "✅"),
])
def test_01_exercise_2_binding(shop, capsys, answer, expected):
    answer(shop)
    check_email_binding()
    assert verdict(capsys) == expected


def bind_email(channel, key, exchange="shop.events", queue="email.jobs"):
    channel.queue_bind(queue=queue, exchange=exchange, routing_key=key)


def cancelled_replacing_created(channel):
    channel.queue_unbind(queue="email.jobs", exchange="shop.events", routing_key="order.created")
    bind_email(channel, "order.cancelled")


def cancelled_and_a_wildcard_too(channel):
    bind_email(channel, "order.cancelled")
    bind_email(channel, "order.*")


def cancelled_and_on_amq_direct_too(channel):
    bind_email(channel, "order.cancelled")
    bind_email(channel, "order.cancelled", exchange="amq.direct")


def shop_events_made_anew_with_both_keys(kind, durable):
    def answer(channel):
        remake_shop_events(channel, kind, durable)
        bind_email(channel, "order.created")
        bind_email(channel, "order.cancelled")
    return answer


@pytest.mark.parametrize("answer", [
    pytest.param(cancelled_replacing_created, id="binding_the_old_one_replaced_not_kept"),
    pytest.param(cancelled_and_a_wildcard_too, id="binding_an_extra_wildcard_key"),
    pytest.param(cancelled_and_on_amq_direct_too, id="binding_also_to_amq_direct"),
    pytest.param(lambda channel: bind_email(channel, "order"), id="binding_a_key_one_word_short"),
    pytest.param(lambda channel: bind_email(channel, "order.cancelled.email"), id="binding_a_key_one_word_more"),
    pytest.param(lambda channel: bind_email(channel, "Order.Cancelled"), id="binding_the_key_in_other_case"),
    pytest.param(lambda channel: channel.queue_declare(queue="audit.log", durable=True) and bind_email(
        channel, "order.cancelled", queue="audit.log"), id="binding_another_queue"),
    pytest.param(shop_events_made_anew_with_both_keys("topic", True), id="topology_shop_events_made_a_topic_exchange"),
    pytest.param(shop_events_made_anew_with_both_keys("fanout", True), id="topology_shop_events_made_a_fanout_exchange"),
    pytest.param(shop_events_made_anew_with_both_keys("direct", False), id="topology_shop_events_made_not_durable"),
    pytest.param(lambda channel: channel.queue_delete("email.jobs"), id="topology_email_jobs_deleted"),
])
def test_01_exercise_2_wrong_answers(shop, capsys, answer):
    answer(shop)
    check_email_binding()
    assert verdict(capsys) == "❌"


def test_01_exercise_2_a_second_try_after_a_wrong_one(shop, capsys):
    cancelled_and_a_wildcard_too(shop)
    check_email_binding()
    assert verdict(capsys) == "❌"
    given(shop)
    bind_email(shop, "order.cancelled")
    check_email_binding()
    assert verdict(capsys) == "✅"
