"""Every exercise's check against wrong answers, on the real broker.

For each exercise of lessons 00-12: at least three wrong answers — left empty (the learner's
cell as it is), the expected result produced the wrong way or typed in, and a plausible
mistake — must each get ❌ with a next step; the solution must get ✅; and a second try after a
wrong one must get ✅ too (the exercise's given cell makes a clean state). A check never raises.
"""

import functools
import json
import threading
import time
from urllib.parse import quote

import pika
import pytest

from helpers import checks
from helpers.amqp import connect, drain, publish
from helpers.config import settings
from helpers.errors import CourseError
from helpers.management import management_api
from helpers.ops.prometheus import samples
from helpers.lab.rpc import RpcClient, RpcServer, RpcTimeout
from helpers.lab.routing import declare_routing
from helpers.lab.workers import WorkerPool, make_jobs


def verdict(capsys):
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and out[:1] in "✅❌", f"a check prints one line: {out!r}"
    if out.startswith("❌"):
        assert len(out) > 30, f"a ❌ says what to do next: {out!r}"
    return out[0]


@pytest.fixture
def channel():
    with connect(name="pytest-exercises") as connection:
        yield connection.channel()


def fresh(channel, *queues, exchanges=()):
    for queue in queues:
        channel.queue_delete(queue)
    for exchange in exchanges:
        channel.exchange_delete(exchange)


# -- lesson 00 --------------------------------------------------------------------------------
def version_left_empty(api):
    return None


def version_typed_in(api):
    return management_api().overview()["rabbitmq_version"]  # the right value, but not read from `api`


def version_right(api):
    return api.overview()["rabbitmq_version"]


@pytest.mark.parametrize("answer, expected", [
    (version_left_empty, "❌"), (version_typed_in, "❌"), ("3.10.8", "❌"),
    (lambda api: api.overview()["erlang_version"], "❌"), (version_right, "✅"),
])
def test_00_exercise_1_broker_version(capsys, answer, expected):
    checks.check_broker_version(answer)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("answer, expected", [
    (lambda api: None, "❌"),
    (lambda api: sorted(management_api().get("nodes")[0]["enabled_plugins"]), "❌"),  # typed in: not from `api`
    (lambda api: api.nodes()["enabled_plugins"], "❌"),  # a pandas Series, not a list
    (lambda api: ["rabbitmq_management"], "❌"),
    (lambda api: list(api.nodes()["enabled_plugins"][0]), "✅"),
])
def test_00_exercise_2_enabled_plugins(capsys, answer, expected):
    checks.check_enabled_plugins(answer)
    assert verdict(capsys) == expected


# -- lesson 01 --------------------------------------------------------------------------------
@pytest.fixture
def shop(channel):
    fresh(channel, "audit.log", "email.jobs", exchanges=["shop.events"])
    channel.exchange_declare(exchange="shop.events", exchange_type="direct", durable=True)
    channel.queue_declare(queue="email.jobs", durable=True)
    channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.created")
    yield channel
    fresh(channel, "audit.log", "email.jobs", exchanges=["shop.events"])


def audit_right(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="order.created", body={"order": 6}, exchange="shop.events", persistent=True)


def audit_not_durable(channel):
    channel.queue_declare(queue="audit.log", durable=False)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="order.created", body={"order": 6}, exchange="shop.events", persistent=True)


def audit_straight_to_the_queue(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    channel.queue_bind(queue="audit.log", exchange="shop.events", routing_key="order.created")
    publish(channel, routing_key="audit.log", body={"order": 6}, persistent=True)


def audit_not_bound(channel):
    channel.queue_declare(queue="audit.log", durable=True)
    publish(channel, routing_key="audit.log", body={"order": 6}, persistent=True)


@pytest.mark.parametrize("answer, expected", [
    (lambda channel: None, "❌"), (audit_not_durable, "❌"), (audit_straight_to_the_queue, "❌"),
    (audit_not_bound, "❌"), (audit_right, "✅"),
])
def test_01_exercise_1_audit_trail(shop, capsys, answer, expected):
    answer(shop)
    checks.check_audit_trail("shop.events", "audit.log", "order.created")
    assert verdict(capsys) == expected


def test_01_exercise_1_a_second_try_after_a_wrong_one(shop, capsys):
    audit_straight_to_the_queue(shop)
    checks.check_audit_trail("shop.events", "audit.log", "order.created")
    assert verdict(capsys) == "❌"
    shop.queue_delete("audit.log")  # the exercise's given cell
    audit_right(shop)
    checks.check_audit_trail("shop.events", "audit.log", "order.created")
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("answer, expected", [
    (lambda channel: None, "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.canceled"), "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="amq.direct", routing_key="order.cancelled"), "❌"),
    (lambda channel: channel.queue_bind(queue="email.jobs", exchange="shop.events", routing_key="order.cancelled"), "✅"),
])
def test_01_exercise_2_binding(shop, capsys, answer, expected):
    answer(shop)
    checks.check_binding("shop.events", "email.jobs", "order.cancelled")
    assert verdict(capsys) == expected


# -- lesson 02 --------------------------------------------------------------------------------
@pytest.fixture
def hello(channel):
    fresh(channel, "hello")
    channel.queue_declare(queue="hello", durable=True)
    yield channel
    fresh(channel, "hello")


@pytest.mark.parametrize("texts, persistent, expected", [
    ([], True, "❌"), (["one", "two", "three"], False, "❌"), (["one", "three", "two"], True, "❌"),
    (["one", "two", "three", "one"], True, "❌"), (["one", "two", "three"], True, "✅"),
])
def test_02_exercise_1_three_persistent_messages(hello, capsys, texts, persistent, expected):
    for text in texts:
        publish(hello, "hello", text, persistent=persistent)
    checks.check_messages("hello", ["one", "two", "three"], persistent=True)
    assert verdict(capsys) == expected


def given_three(channel):
    fresh(channel, "hello")
    channel.queue_declare(queue="hello", durable=True)
    for text in ["one", "two", "three"]:
        publish(channel, "hello", text, persistent=True)


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
def test_02_exercise_2_received(hello, capsys, answer, expected):
    given_three(hello)
    checks.check_received(answer(hello), ["one", "two", "three"], queue="hello", wait=4)
    assert verdict(capsys) == expected


# -- lesson 03 --------------------------------------------------------------------------------
@pytest.fixture
def tasks(channel):
    fresh(channel, "tasks")
    channel.queue_declare(queue="tasks", durable=True)
    yield channel
    fresh(channel, "tasks")


def publish_jobs_with(channel, jobs, properties=None, times=1):
    for _ in range(times):
        for job in jobs:
            channel.basic_publish(exchange="", routing_key="tasks", body=json.dumps(job), properties=properties)


PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


@pytest.mark.parametrize("properties, times, expected", [
    (PERSISTENT, 0, "❌"), (None, 1, "❌"), (pika.BasicProperties(delivery_mode=1), 1, "❌"), (PERSISTENT, 2, "❌"),
    (PERSISTENT, 1, "✅"),
])
def test_03_exercise_1_jobs_waiting(tasks, capsys, properties, times, expected):
    jobs = make_jobs(6)
    publish_jobs_with(tasks, jobs, properties, times)
    checks.check_jobs_waiting("tasks", jobs)
    assert verdict(capsys) == expected


def test_03_exercise_1_the_jobs_left_empty_and_the_second_try(tasks, capsys):
    checks.check_jobs_waiting("tasks", None)
    assert verdict(capsys) == "❌"
    jobs = make_jobs(6)
    publish_jobs_with(tasks, jobs, None)  # transient: wrong
    checks.check_jobs_waiting("tasks", jobs)
    assert verdict(capsys) == "❌"
    tasks.queue_purge("tasks")  # the given cell
    publish_jobs_with(tasks, jobs, PERSISTENT)
    checks.check_jobs_waiting("tasks", jobs)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("workers, expected", [(1, "❌"), (2, "❌"), (3, "✅")])
def test_03_exercise_2_every_job_done_once_by_three_workers(tasks, capsys, workers, expected):
    jobs = make_jobs(6, durations=[0.2])
    with WorkerPool("tasks", count=workers) as pool:
        publish_jobs_with(tasks, jobs, PERSISTENT)
        pool.wait_for_jobs(len(jobs), timeout=30)
    checks.check_every_job_done_once(jobs, pool, workers=3)
    assert verdict(capsys) == expected
    pool.cleanup()


@pytest.mark.parametrize("pool", [None, "the report", 3])
def test_03_exercise_2_left_empty_or_not_a_pool(capsys, pool):
    checks.check_every_job_done_once(make_jobs(6), pool, workers=3)
    assert verdict(capsys) == "❌"


# -- lesson 04 --------------------------------------------------------------------------------
@pytest.mark.parametrize("reports, pings, expected", [
    (None, None, "❌❌"), (0, 0, "❌❌"), (100, 1, "❌❌"), (1, 5, "✅❌"), (1, 100, "✅✅"),
])
def test_04_exercise_1_prefetch_choice(capsys, reports, pings, expected):
    checks.check_prefetch_choice(make_jobs(8, durations=[0.5, 2.0, 0.5, 4.0]), reports)
    first = verdict(capsys)
    checks.check_prefetch_choice(make_jobs(5000, durations=[0.001]), pings)
    assert first + verdict(capsys) == expected


def consume_left_empty(channel, queue, do_job):
    ...


def consume_without_qos(channel, queue, do_job):
    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_prefetch_3(channel, queue, do_job):
    channel.basic_qos(prefetch_count=3)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def consume_right(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        do_job(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


@pytest.mark.parametrize("consume, expected", [
    (None, "❌"), (consume_left_empty, "❌"), (consume_without_qos, "❌"), (consume_prefetch_3, "❌"), (consume_right, "✅"),
])
def test_04_exercise_2_fair_dispatch(capsys, consume, expected):
    checks.check_fair_dispatch(consume, make_jobs(8, durations=[0.1, 0.6]), queue="test-fair-dispatch")
    assert verdict(capsys) == expected


# -- lesson 05 --------------------------------------------------------------------------------
def handle_left_empty(channel, method, body, work):
    ...


def handle_ack_first(channel, method, body, work):
    channel.basic_ack(method.delivery_tag)
    work(json.loads(body))


def handle_right(channel, method, body, work):
    work(json.loads(body))
    channel.basic_ack(method.delivery_tag)


@pytest.mark.parametrize("handle, expected", [
    (None, "❌"), (handle_left_empty, "❌"), (handle_ack_first, "❌"), (handle_right, "✅"),
])
def test_05_exercise_1_ack_after_work(capsys, handle, expected):
    checks.check_ack_after_work(handle, queue="test-ack-after-work")
    assert verdict(capsys) == expected


def failing_requeued(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821 - given to every consume function
            ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def failing_acked(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            pass
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


def failing_rejected(channel, queue, do_job):
    channel.basic_qos(prefetch_count=1)

    def on_message(ch, method, properties, body):
        try:
            do_job(body)
        except JobFailed:  # noqa: F821
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
            return
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)


@pytest.mark.parametrize("consume, expected", [
    (None, "❌"), (consume_left_empty, "❌"), (failing_requeued, "❌"), (failing_acked, "❌"), (failing_rejected, "✅"),
])
def test_05_exercise_2_a_failed_job_is_rejected(capsys, consume, expected):
    checks.check_failed_job_dropped(consume, queue="test-acks-exercise", failing="job-002")
    assert verdict(capsys) == expected


# -- lesson 06 --------------------------------------------------------------------------------
@pytest.mark.parametrize("durable, persistent, count, expected", [
    (None, True, 3, "❌"), (False, True, 3, "❌"), (True, False, 3, "❌"), (True, True, 2, "❌"), (True, True, 3, "✅"),
])
def test_06_exercise_1_survives_a_restart(channel, capsys, durable, persistent, count, expected):
    fresh(channel, "test-durability-exercise")
    if durable is not None:
        channel.queue_declare(queue="test-durability-exercise", durable=durable)
        for text in ["a", "b", "c"][:count]:
            publish(channel, "test-durability-exercise", text, persistent=persistent)
    checks.check_survives_restart("test-durability-exercise", messages=3, wait=2)
    assert verdict(capsys) == expected
    fresh(channel, "test-durability-exercise")


def publish_left_empty(channel, exchange, routing_key, body):
    ...


def publish_typed_true(channel, exchange, routing_key, body):
    channel.basic_publish(exchange, routing_key, body, properties=PERSISTENT)
    return True


def publish_right(channel, exchange, routing_key, body):
    try:
        channel.basic_publish(exchange, routing_key, body, mandatory=True, properties=PERSISTENT)
    except pika.exceptions.UnroutableError:
        return False
    return True


@pytest.mark.parametrize("function, expected", [
    (None, "❌"), (publish_left_empty, "❌"), (publish_typed_true, "❌"), (publish_right, "✅"),
])
def test_06_exercise_2_publish_safely(capsys, function, expected):
    checks.check_publish_safely(function)
    assert verdict(capsys) == expected


# -- lesson 07 --------------------------------------------------------------------------------
ORDER_EVENTS = ["order.eu.created", "order.us.created", "order.eu.cancelled", "order.us.shipped", "payment.eu.received"]
ORDER_ROUTES = {
    "order.eu.created": ["new-orders", "eu-orders", "order-audit"],
    "order.us.created": ["new-orders", "order-audit"],
    "order.eu.cancelled": ["eu-orders", "order-audit"],
    "order.us.shipped": ["order-audit"],
    "payment.eu.received": [],
}
ORDER_QUEUES = ["new-orders", "eu-orders", "order-audit"]


@pytest.fixture
def orders(channel):
    fresh(channel, *ORDER_QUEUES, exchanges=["orders"])  # the exercise's given cell
    yield channel
    fresh(channel, *ORDER_QUEUES, exchanges=["orders"])


RIGHT_BINDINGS = [("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.#")]


@pytest.mark.parametrize("bindings, expected", [
    (None, "❌"),
    ([("new-orders", "order.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.#")], "❌"),
    ([("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "#")], "❌"),
    ([("new-orders", "order.*.created"), ("eu-orders", "order.eu.*"), ("order-audit", "order.*")], "❌"),
    (RIGHT_BINDINGS, "✅"),
])
def test_07_exercise_1_topic_routing(orders, capsys, bindings, expected):
    if bindings is not None:
        declare_routing(orders, "orders", "topic", bindings)
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES)
    assert verdict(capsys) == expected


def test_07_exercise_1_a_second_try_after_a_wrong_binding(orders, capsys):
    declare_routing(orders, "orders", "topic", [("order-audit", "#"), ("new-orders", "order.*.created"), ("eu-orders", "order.eu.*")])
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES)
    assert verdict(capsys) == "❌"
    fresh(orders, *ORDER_QUEUES, exchanges=["orders"])  # the given cell again: the old binding goes
    declare_routing(orders, "orders", "topic", RIGHT_BINDINGS)
    checks.check_routing("orders", ORDER_EVENTS, ORDER_ROUTES)
    assert verdict(capsys) == "✅"


JOBS = [{"task": "resize-image", "priority": "high"}, {"task": "resize-image", "priority": "low"},
        {"task": "send-email", "priority": "high"}, {"task": "generate-report", "priority": "low"}]
JOB_ROUTES = {
    "task=resize-image, priority=high": ["images-urgent", "ops"],
    "task=resize-image, priority=low": [],
    "task=send-email, priority=high": ["ops"],
    "task=generate-report, priority=low": ["ops"],
}


@pytest.mark.parametrize("images_match, ops_match, expected", [
    (None, None, "❌"), ("any", "any", "❌"), ("all", "all", "❌"), ("all", "any", "✅"),
])
def test_07_exercise_2_headers_routing(channel, capsys, images_match, ops_match, expected):
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])
    if images_match:
        declare_routing(channel, "job-router", "headers", [
            ("images-urgent", {"x-match": images_match, "task": "resize-image", "priority": "high"}),
            ("ops", {"x-match": ops_match, "priority": "high", "task": "generate-report"})])
    checks.check_routing("job-router", JOBS, JOB_ROUTES)
    assert verdict(capsys) == expected
    fresh(channel, "images-urgent", "ops", exchanges=["job-router"])


# -- lesson 08 --------------------------------------------------------------------------------
ORDER = [("photo-print", 36), ("frame", 3), ("photo-book", 1)]


@pytest.fixture
def pricing(channel):
    fresh(channel, "test-rpc")
    server = RpcServer("test-rpc", idle_timeout=60)
    with connect(name="pytest-rpc-client") as connection:
        yield server, connection
    server.stop()
    fresh(channel, "test-rpc")


def call_all(connection, order):
    with RpcClient(connection, "test-rpc", direct_reply_to=True) as client:
        return [client.call({"item": item, "quantity": quantity}, timeout=5) for item, quantity in order]


def test_08_exercise_1_order_total(pricing, capsys):
    server, connection = pricing
    checks.check_order_total(None, ORDER, server)
    assert verdict(capsys) == "❌"  # left empty
    right_total = round(sum(reply["total"] for reply in call_all(connection, ORDER)), 2)
    fresh_server = RpcServer("test-rpc-typed", idle_timeout=60)
    try:
        checks.check_order_total(right_total, ORDER, fresh_server)
        assert verdict(capsys) == "❌"  # the expected value typed in: that server answered nothing
    finally:
        fresh_server.stop()
    checks.check_order_total("117.96", ORDER, server)
    assert verdict(capsys) == "❌"  # a string, not a number
    checks.check_order_total(right_total - 1, ORDER, server)
    assert verdict(capsys) == "❌"  # a wrong sum
    checks.check_order_total(right_total, ORDER, server)
    assert verdict(capsys) == "✅"


def test_08_exercise_1_only_some_lines_called(pricing, capsys):
    server, connection = pricing
    partial = call_all(connection, ORDER[:2])
    checks.check_order_total(sum(reply["total"] for reply in partial), ORDER, server)
    assert verdict(capsys) == "❌"


def test_08_exercise_2_gave_up(pricing, capsys):
    server, connection = pricing
    checks.check_gave_up(None, queue="test-rpc")
    assert verdict(capsys) == "❌"  # a server still consumes, and nothing was caught
    server.stop()
    checks.check_gave_up(None, queue="test-rpc")
    assert verdict(capsys) == "❌"  # left empty
    checks.check_gave_up(RpcTimeout("No reply"), queue="test-rpc")
    assert verdict(capsys) == "❌"  # typed in: no call was made
    checks.check_gave_up(TimeoutError("timed out"), queue="test-rpc")
    assert verdict(capsys) == "❌"
    error = None
    with RpcClient(connection, "test-rpc") as client:
        try:
            client.call({"item": "poster", "quantity": 1}, timeout=1)
        except RpcTimeout as caught:
            error = caught
    checks.check_gave_up(error, queue="test-rpc")
    assert verdict(capsys) == "✅"


# -- lesson 09 --------------------------------------------------------------------------------
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


# -- lesson 10 --------------------------------------------------------------------------------
@pytest.fixture
def two_queues(channel):
    names = ["test-depth-empty", "test-depth-three"]
    fresh(channel, *names)
    for name in names:
        channel.queue_declare(name, durable=True)
    for number in range(3):
        publish(channel, names[1], f"m{number}", persistent=True)
    management_api().wait_for_queue(names[1], messages=3)
    yield names
    fresh(channel, *names)


def depths_right(families, queues):
    return {labels["queue"]: int(value) for labels, value in samples(families, "rabbitmq_queue_messages")
            if labels.get("queue") in queues}


def depths_from_the_api(families, queues):
    api = management_api()
    return {name: api.queue(name)["messages"] for name in queues}


def depths_typed_in(families, queues):
    return {"test-depth-empty": 0, "test-depth-three": 3}


def depths_ready_only_and_all_queues(families, queues):
    return {labels.get("queue"): int(value) for labels, value in samples(families, "rabbitmq_queue_messages_ready")}


@pytest.mark.parametrize("function, expected", [
    (lambda families, queues: None, "❌"), (depths_typed_in, "❌"), (depths_from_the_api, "❌"), (None, "❌"),
    (depths_right, "✅"),
])
def test_10_exercise_1_depths_from_prometheus(two_queues, capsys, function, expected):
    time.sleep(0)  # the endpoint reflects the queues after the broker's next statistics tick; the check waits
    checks.check_queue_depths(function, two_queues, wait=8)
    assert verdict(capsys) == expected


def test_10_exercise_2_alert_rule(capsys):
    from helpers.lab.alerts import AlertRule

    cases = [({"name": "a few stragglers", "messages": 5, "consumers": 0}, False),
             ({"name": "busy but served", "messages": 500, "consumers": 2}, False),
             ({"name": "forgotten", "messages": 11, "consumers": 0}, True)]
    message = "{queue}: {value:.0f}"
    wrong = [
        None,
        AlertRule("any backlog", lambda samples, queue: queue.get("messages", 0), threshold=10, message=message),
        AlertRule("too eager", lambda samples, queue: queue.get("messages", 0) if not queue.get("consumers") else 0,
                  threshold=0, message=message),
        "backlog without consumers",
    ]
    for rule in wrong:
        checks.check_alert_rule(rule, cases=cases)
        assert verdict(capsys) == "❌", rule
    right = AlertRule("backlog without consumers",
                      lambda samples, queue: queue.get("messages", 0) if queue.get("consumers", 0) == 0 else 0,
                      threshold=10, message=message)
    checks.check_alert_rule(right, cases=cases)
    assert verdict(capsys) == "✅"


def test_every_exercise_check_is_tested_here():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in checks.__all__:
        if name.startswith("check_"):
            assert f"checks.{name}(" in source, f"{name} has no wrong-answer test here"


@pytest.mark.parametrize("name", [name for name in checks.__all__ if name.startswith("check_")])
@pytest.mark.parametrize("wrong", [None, 42, "not what it asks for"])
def test_a_check_never_raises_whatever_it_is_given(capsys, name, wrong):
    import inspect

    function = getattr(checks, name)
    required = [parameter for parameter in inspect.signature(function).parameters.values()
                if parameter.default is inspect.Parameter.empty]
    function(*[wrong] * len(required))  # a learner's leftover placeholder, a number, a string
    assert verdict(capsys) == "❌"


# -- lesson 11 --------------------------------------------------------------------------------
def worker_left_empty(queue, handle, stop):
    ...


def worker_as_given(queue, handle, stop):
    """The exercise's starting point: no recovery, and auto_ack."""
    connection = connect(name="exercise-worker")
    channel = connection.channel()
    channel.basic_consume(queue, lambda channel, method, properties, body: handle(body.decode()), auto_ack=True)
    while not stop.is_set():
        connection.process_data_events(time_limit=0.2)
    connection.close()


def worker_handles_typed_in_jobs(queue, handle, stop):
    for number in range(30):  # the job names the check uses, without consuming anything
        handle(f"job-{number:02d}")
    stop.wait(10)


def recovering_worker(auto_ack=False, ack=True, ack_first=False, give_up_after_a_loss=False):
    def consume_with_recovery(queue, handle, stop):
        while not stop.is_set():
            connection = None
            try:
                connection = connect(name="exercise-worker")
                channel = connection.channel()
                channel.basic_qos(prefetch_count=10)

                def on_message(channel, method, properties, body):
                    if ack_first:
                        channel.basic_ack(method.delivery_tag)
                    handle(body.decode())
                    if ack and not auto_ack and not ack_first:
                        channel.basic_ack(method.delivery_tag)

                channel.basic_consume(queue, on_message, auto_ack=auto_ack)
                while not stop.is_set():
                    connection.process_data_events(time_limit=0.2)
                connection.close()
            except (pika.exceptions.AMQPConnectionError, CourseError):
                if give_up_after_a_loss:
                    return
                if connection is not None and connection.is_open:
                    connection.close()
                stop.wait(0.5)
    return consume_with_recovery


@pytest.mark.parametrize("answer, expected", [
    (worker_left_empty, "❌"), (worker_as_given, "❌"), (worker_handles_typed_in_jobs, "❌"),
    (recovering_worker(auto_ack=True), "❌"), (recovering_worker(ack=False), "❌"), (recovering_worker(ack_first=True), "❌"),
    (recovering_worker(give_up_after_a_loss=True), "❌"), (recovering_worker(), "✅"),
], ids=["left empty", "as given", "typed-in jobs", "recovers with auto_ack", "recovers, never acks", "acks before the work",
        "returns after the loss", "solution"])
def test_11_exercise_1_survives_a_cut_connection(capsys, answer, expected):
    checks.check_survives_cut_connection(answer, queue="pytest-recovery-exercise")
    assert verdict(capsys) == expected


def test_11_exercise_1_a_second_try_after_a_wrong_one(capsys):
    checks.check_survives_cut_connection(worker_as_given, queue="pytest-recovery-exercise-2")
    assert verdict(capsys) == "❌"
    checks.check_survives_cut_connection(recovering_worker(), queue="pytest-recovery-exercise-2")
    assert verdict(capsys) == "✅"


def long_job_connection(heartbeat):
    return lambda: connect(name="long-job-worker", heartbeat=heartbeat)


def long_jobs_in_threads(prefetch=1, ack=True, ack_first=False, auto_ack=False, ack_from_the_job_thread=False):
    def run_long_jobs(connection, queue, do_job, count):
        channel = connection.channel()
        if prefetch is not None:
            channel.basic_qos(prefetch_count=prefetch)
        finished = []

        def after_work(delivery_tag):
            if ack and not ack_first and not auto_ack:
                channel.basic_ack(delivery_tag)
            finished.append(delivery_tag)

        def on_job(channel, method, properties, body):
            if ack_first:
                channel.basic_ack(method.delivery_tag)

            def work():
                do_job(body)
                if ack_from_the_job_thread:
                    channel.basic_ack(method.delivery_tag)  # the unsafe way: from another thread
                    finished.append(method.delivery_tag)
                else:
                    connection.add_callback_threadsafe(functools.partial(after_work, method.delivery_tag))
            threading.Thread(target=work, daemon=True).start()

        channel.basic_consume(queue, on_job, auto_ack=auto_ack)
        deadline = time.monotonic() + 30
        while len(finished) < count and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
        channel.close()
    return run_long_jobs


def long_jobs_while_the_loop_sleeps(connection, queue, do_job, count):
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    done = []

    def on_job(channel, method, properties, body):
        def work():
            do_job(body)
            done.append(method.delivery_tag)
        threading.Thread(target=work, daemon=True).start()

    channel.basic_consume(queue, on_job)
    connection.process_data_events(time_limit=0.5)  # takes the first job...
    while len(done) < 1:
        time.sleep(0.2)  # ...then waits without pika: no heartbeats
    channel.basic_ack(done[0])


def long_jobs_by_basic_get(connection, queue, do_job, count):
    channel = connection.channel()
    for _ in range(count):
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        do_job(body)


def long_jobs_in_the_io_thread(connection, queue, do_job, count):
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    done = []

    def on_job(channel, method, properties, body):
        do_job(body)  # holds pika's I/O loop: no heartbeats meanwhile
        channel.basic_ack(method.delivery_tag)
        done.append(body)

    channel.basic_consume(queue, on_job)
    deadline = time.monotonic() + 30
    while len(done) < count and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.2)


def long_jobs_typed_in(connection, queue, do_job, count):
    for body in (b"job-a", b"job-b"):  # the check's job names, not taken from the queue
        do_job(body)


@pytest.mark.parametrize("connect_for_long_jobs", [lambda: None, long_job_connection(0), long_job_connection(1),
                                                   long_job_connection(600), lambda: connect(name="another-name", heartbeat=10),
                                                   lambda: connect(name="long-job-worker", heartbeat=10).channel()],
                         ids=["left empty", "heartbeats off", "1 s", "600 s", "another name", "a channel"])
def test_11_exercise_2_a_wrong_heartbeat(capsys, connect_for_long_jobs):
    checks.check_long_jobs(connect_for_long_jobs, long_jobs_in_threads(), queue="pytest-long-jobs-exercise")
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("run_long_jobs, expected", [
    (lambda connection, queue, do_job, count: None, "❌"), (long_jobs_typed_in, "❌"), (long_jobs_in_the_io_thread, "❌"),
    (long_jobs_in_threads(prefetch=None), "❌"), (long_jobs_in_threads(ack=False), "❌"),
    (long_jobs_in_threads(ack_first=True), "❌"), (long_jobs_in_threads(auto_ack=True), "❌"),
    (long_jobs_in_threads(ack_from_the_job_thread=True), "❌"), (long_jobs_while_the_loop_sleeps, "❌"),
    (long_jobs_by_basic_get, "❌"), (long_jobs_in_threads(), "✅"),
], ids=["left empty", "typed in", "work in the I/O thread", "no prefetch", "never acks", "acks before the work", "auto_ack",
        "acks from the job's thread", "loop sleeps", "basic_get", "solution"])
# The answer that acks from the job's thread breaks pika's connection in that thread, as it would
# in a learner's kernel: the thread's exception is that wrong answer's, not the check's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_11_exercise_2_long_jobs(capsys, run_long_jobs, expected):
    checks.check_long_jobs(long_job_connection(10), run_long_jobs, queue="pytest-long-jobs-exercise")
    assert verdict(capsys) == expected


# -- lesson 12 --------------------------------------------------------------------------------
@pytest.fixture
def audit_queues():
    """The vhosts and queues of lesson 12's exercise 1, and no user 'auditor' yet."""
    api = management_api()
    api.delete("users/auditor")
    for vhost in ("team-a", "team-b"):
        api.put(f"vhosts/{vhost}", {})
    me = settings().user
    api.put(f"permissions/team-a/{me}", {"configure": ".*", "write": ".*", "read": ".*"})
    current = settings()
    params = pika.ConnectionParameters(current.amqp_host, current.amqp_port, "team-a",
                                       pika.PlainCredentials(current.user, current.password))
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        for queue in ("audit.log", "audit.log.old", "audit-log", "audit.archive"):
            channel.queue_declare(queue, durable=True)
            channel.basic_publish("", queue, f"an entry in {queue}")
    yield api
    api.delete("users/auditor")
    for vhost in ("team-a", "team-b"):
        api.delete(f"vhosts/{vhost}")


NOTHING = {"configure": "", "write": "", "read": ""}


@pytest.mark.parametrize("password, permissions, expected", [
    (None, {}, "❌"),  # left empty: no user
    ("another-password", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {}, "❌"),  # a user with no permissions
    ("right", {"team-a": {"configure": ".*", "write": ".*", "read": ".*"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": ".*"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "audit.log"}}, "❌"),  # unanchored: audit.log.old too
    ("right", {"team-a": {**NOTHING, "write": ".*", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "configure": ".*", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log$"}, "/": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit.log$"}}, "❌"),  # the dot unescaped: audit-log too
    ("right", {"team-a": {**NOTHING, "write": "^amq\\.topic$", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "configure": "^audit\\.archive$", "read": "^audit\\.log$"}}, "❌"),
    ("administrator", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "✅"),
], ids=["left empty", "another password", "no permissions", "everything", "read all", "unanchored", "may write",
        "may configure", "another vhost too", "dot unescaped", "may write to amq.topic", "may configure another queue",
        "an administrator", "solution"])
def test_12_exercise_1_read_only_access(audit_queues, capsys, password, permissions, expected):
    if password is not None:
        tags = "administrator" if password == "administrator" else ""
        audit_queues.put("users/auditor", {"password": "right" if tags else password, "tags": tags})
    for vhost, rights in permissions.items():
        audit_queues.put(f"permissions/{quote(vhost, safe='')}/auditor", rights)
    checks.check_read_only_access("auditor", "right", vhost="team-a", queue="audit.log")
    assert verdict(capsys) == expected


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    """Lesson 12's TLS node, with the lesson's certificates, and the user 'tls-client'."""
    import trustme

    from helpers.ops.tls_node import TLSNode

    certificates = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    server = authority.issue_cert("localhost", "127.0.0.1")
    authority.cert_pem.write_to_path(str(certificates / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(certificates / "server.pem"))
    server.private_key_pem.write_to_path(str(certificates / "server.key"))
    authority.issue_cert("tls-client", common_name="tls-client").private_key_and_cert_chain_pem.write_to_path(
        str(certificates / "client.pem"))
    node = TLSNode(certificates)
    node.start()
    node.api().put("users/tls-client", {"password_hash": "", "tags": ""})
    node.api().put("permissions/%2F/tls-client", {"configure": ".*", "write": ".*", "read": ".*"})
    yield node
    node.stop()


def tls_answer(context=None, credentials=None, ssl_on=True, client_certificate="client.pem", cafile=True, port=None,
               url=False):
    def tls_client_parameters_for(node):
        def tls_client_parameters():
            import ssl

            chosen = context() if context else ssl.create_default_context(
                cafile=str(node.certificates / "ca.pem") if cafile else None)
            if client_certificate:
                chosen.load_cert_chain(str(node.certificates / client_certificate))
            if url:
                parameters = pika.URLParameters(f"amqps://localhost:{node.amqps_port}/")
                parameters.ssl_options = pika.SSLOptions(chosen, "localhost")
                parameters.credentials = pika.credentials.ExternalCredentials()
                return parameters
            return pika.ConnectionParameters(
                host="localhost", port=port(node) if port else node.amqps_port,
                ssl_options=pika.SSLOptions(chosen, "localhost") if ssl_on else None,
                credentials=credentials or pika.credentials.ExternalCredentials())
        return tls_client_parameters
    return tls_client_parameters_for


def unverified_context():
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.mark.parametrize("answer, expected", [
    (lambda node: (lambda: None), "❌"),
    (tls_answer(ssl_on=False), "❌"),
    (tls_answer(context=unverified_context), "❌"),
    (tls_answer(cafile=False), "❌"),
    (tls_answer(client_certificate=False), "❌"),
    (tls_answer(credentials=pika.PlainCredentials(settings().user, settings().password)), "❌"),
    (tls_answer(credentials=pika.PlainCredentials("tls-client", "")), "❌"),
    (tls_answer(port=lambda node: node.ports["amqp"]), "❌"), (tls_answer(client_certificate="client.crt"), "❌"),
    (tls_answer(url=True), "✅"), (tls_answer(), "✅"),
], ids=["left empty", "no TLS", "verifies nothing", "trusts the wrong CAs", "no client certificate", "a password",
        "an empty password", "the plain port", "a missing file", "URL parameters", "solution"])
def test_12_exercise_2_tls_client_certificate(tls_node, capsys, answer, expected):
    checks.check_tls_client_certificate(answer(tls_node), tls_node)
    assert verdict(capsys) == expected
