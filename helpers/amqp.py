"""Talking AMQP to the broker: connect, declare, publish, and consume with a limit.

Every wait here has a limit. ``connect`` fails within its timeout with one sentence that says
what is wrong and how to start the broker; ``drain`` returns after a message count, a quiet
period or a deadline, whichever comes first, so no notebook cell waits for Ctrl-C.

Introduced in lesson 02 (``connect`` in lesson 00).
"""

import json
import sys
import time
import uuid
from collections import namedtuple
from dataclasses import dataclass, field

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from .config import login_source, settings
from .errors import CourseError

COURSE_ID = "course_connection_id"
START_HINT = "Start it with: make broker  (or: python -m helpers.ops.broker up)"


def connect(url=None, timeout=5.0, heartbeat=None, name=None):
    """Open a blocking connection to the broker, or raise a one-line CourseError within ``timeout``.

    ``url`` defaults to the course's AMQP_URL. ``name`` shows in the management UI's
    connection list. Use it as a context manager so the connection closes::

        with connect() as connection:
            channel = connection.channel()
    """
    url = url or settings().amqp_url
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.retry_delay = 0
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = max(timeout, 30)
    if heartbeat is not None:
        params.heartbeat = heartbeat
    # The management API lists the connection with these properties: the name a reader sees, and an
    # id by which a check finds this very connection (see ManagementAPI.channel_of).
    course_id = uuid.uuid4().hex
    params.client_properties = {COURSE_ID: course_id, **({"connection_name": name} if name else {})}
    where = f"{params.host}:{params.port}"
    try:
        connection = pika.BlockingConnection(params)
        connection.course_id = course_id
        return connection
    except pika.exceptions.ProbableAuthenticationError:
        raise _login_refused(params, where) from None
    except pika.exceptions.AuthenticationError:
        raise _login_refused(params, where) from None
    except pika.exceptions.ProbableAccessDeniedError:
        raise CourseError(
            f"RabbitMQ at {where} let user '{params.credentials.username}' log in but not into "
            f"virtual host '{params.virtual_host}'. Check AMQP_URL, or give the user permissions "
            "on that vhost."
        ) from None
    except (pika.exceptions.AMQPConnectionError, AMQPConnectorException) as error:
        raise CourseError(f"RabbitMQ is not reachable at {where} ({_reason(error)}). {START_HINT}") from None


def _login_refused(params, where):
    return CourseError(login_refused_message(params.credentials.username, where))


def login_refused_message(user, where):
    """The one line for a refused login: it names the setting that holds the password."""
    return (f"RabbitMQ at {where} refused the login for user '{user}' with the password from {login_source()}: "
            "check that setting for a typo (the course's broker was made with devuser / devpassword, "
            "or with what RABBITMQ_USER / RABBITMQ_PASSWORD said when it first started).")


def connect_or_exit(name=None):
    """For the guide's scripts: a connection to the course's broker, or the reason in one line on
    stderr and exit status 1 (nothing to start when the login was refused: it runs)."""
    try:
        return connect(name=name)
    except CourseError as error:
        print(error, file=sys.stderr)
        sys.exit(1)


def _reason(error):
    """A short reason from pika's nested connection errors."""
    text = repr(error)
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return "connection refused: nothing listens on that port"
    if "handshake" in text.lower():
        return "something listens on that port but did not answer as RabbitMQ in time"
    if "timed out" in text.lower() or "Timeout" in text:
        return "no answer before the time limit"
    if "Name or service not known" in text or "gaierror" in text:
        return "unknown host name"
    if "StreamLostError" in text or "EOF" in text or "reset" in text.lower():
        return "the connection was closed before the broker answered"
    return type(error).__name__


def declare_queue(channel, name, durable=True, exclusive=False, arguments=None):
    """Declare a queue; a queue that already exists with other settings gets a clear message.

    Queues are ``durable=True`` unless ``exclusive=True``: RabbitMQ 4.3 rejects the others.
    Returns the queue's name (the broker's name for ``name=""``).
    """
    if not durable and not exclusive:
        raise CourseError(f"Declare queue '{name}' durable=True or exclusive=True: newer brokers reject the others.")
    try:
        result = channel.queue_declare(queue=name, durable=durable, exclusive=exclusive, arguments=arguments)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 406:
            raise CourseError(
                f"Queue '{name}' already exists with other settings ({error.reply_text}). "
                f"Delete it first (channel.queue_delete('{name}') on a new channel), or declare it "
                "with the same settings."
            ) from None
        raise
    return result.method.queue


QueueCounts = namedtuple("QueueCounts", "messages consumers")


def queue_counts(queue, connection=None):
    """``queue``'s ready messages and consumers as the broker has them now (a passive declare,
    without the management API's lag), or None if there is no such queue. On a channel of its
    own (a missing queue closes the channel it was asked on), of ``connection`` or of a short
    connection of its own. The one way the course reads a queue's depth over AMQP."""
    if connection is None:
        with connect(name="queue-counts") as own:
            return queue_counts(queue, own)
    channel = connection.channel()
    try:
        declared = channel.queue_declare(queue, passive=True).method
    except pika.exceptions.ChannelClosedByBroker:
        return None
    channel.close()
    return QueueCounts(declared.message_count, declared.consumer_count)


def publish(channel, routing_key, body, exchange="", *, persistent, headers=None, mandatory=False, **properties):
    """Publish one message. A dict or list body is sent as JSON.

    ``persistent`` has no default, so every call says what it means: ``True`` sets delivery mode 2
    (kept on disk by a durable queue, lesson 02), ``False`` delivery mode 1 (lost in a restart).
    """
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        properties.setdefault("content_type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    props = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent if persistent else pika.DeliveryMode.Transient,
        headers=headers,
        **properties,
    )
    channel.basic_publish(exchange=exchange, routing_key=routing_key, body=body, properties=props, mandatory=mandatory)


@dataclass
class Message:
    """One delivered message, with what a lesson wants to look at."""

    body: bytes
    routing_key: str
    exchange: str
    redelivered: bool
    delivery_tag: int
    properties: pika.BasicProperties = field(repr=False)

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body)

    @property
    def headers(self):
        return self.properties.headers or {}


def deliveries(channel, queue, idle_timeout=None, deadline=10.0):
    """Consume ``queue`` with a limit: yield ``(method, properties, body)`` for each delivery
    until no message came for ``idle_timeout`` seconds (if given) or ``deadline`` seconds have
    passed in all; the caller may stop earlier. The consumer is then cancelled, and messages the
    broker sent ahead (prefetched) but that were not taken go back to the queue. The course's one
    bounded consume: every helper that consumes for a while goes through it.
    """
    started = last_seen = time.monotonic()
    try:
        for method, properties, body in channel.consume(queue, inactivity_timeout=0.05):
            now = time.monotonic()
            if method is not None:
                last_seen = now
                yield method, properties, body
            if now - started >= deadline or (idle_timeout is not None and now - last_seen >= idle_timeout):
                break
    finally:
        if channel.is_open:
            channel.cancel()


def drain(channel, queue, max_messages=None, idle_timeout=1.0, deadline=10.0, ack=True):
    """Consume from ``queue`` until a limit is reached; return the messages as a list.

    Stops at the first of: ``max_messages`` taken, no message for ``idle_timeout`` seconds, or
    ``deadline`` seconds in all. With ``ack=True`` each message is acknowledged after it is
    taken; with ``ack=False`` they stay unacknowledged until the channel closes (then the broker
    delivers them again).
    """
    messages = []
    if max_messages is not None and max_messages <= 0:
        return messages
    for method, properties, body in deliveries(channel, queue, idle_timeout=idle_timeout, deadline=deadline):
        messages.append(Message(body, method.routing_key, method.exchange, method.redelivered, method.delivery_tag, properties))
        if ack:
            channel.basic_ack(method.delivery_tag)
        if max_messages is not None and len(messages) >= max_messages:
            break
    return messages
