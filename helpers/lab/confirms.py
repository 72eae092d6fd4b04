"""Publisher confirms in batches: publish a batch, then wait until the broker confirmed all of it.

    result = publish_in_batches("orders", bodies, batch_size=100)
    result.confirmed == len(bodies)

pika's ``BlockingChannel`` with ``confirm_delivery()`` waits for the broker's confirm after each
message (lesson 06 shows that first). To have a whole batch in flight, this module drives pika's
asynchronous ``SelectConnection``: it publishes ``batch_size`` messages, counts the broker's
``Basic.Ack`` (one may confirm many at once, ``multiple=True``) and ``Basic.Nack`` frames, and
publishes the next batch once the last one is settled. Everything has a deadline.

Introduced in lesson 06.
"""

import json
import time
from dataclasses import dataclass

import pika

from ..config import settings
from ..errors import CourseError


@dataclass
class BatchResult:
    """What the broker said about the messages of ``publish_in_batches``."""

    published: int
    confirmed: int
    nacked: int
    seconds: float
    waits: int  # how many times the publisher waited for the broker's confirms: once a batch

    @property
    def per_second(self):
        return self.published / self.seconds if self.seconds else 0.0


class _BatchPublisher:
    """The callbacks of one run; ``run()`` returns when every message is settled or time is up."""

    def __init__(self, exchange, routing_key, bodies, batch_size, properties, timeout):
        self.exchange, self.routing_key = exchange, routing_key
        self.bodies, self.batch_size, self.properties = list(bodies), batch_size, properties
        self.timeout = timeout
        self.published = self.confirmed = self.nacked = self.waits = 0
        self.unsettled = set()  # delivery tags published and not yet confirmed
        self.error = None
        self.started = self.finished = None

    def run(self):
        params = pika.URLParameters(settings().amqp_url)
        params.connection_attempts = 1
        params.socket_timeout = params.stack_timeout = min(5.0, self.timeout)
        params.client_properties = {"connection_name": "batch-publisher"}
        self.connection = pika.SelectConnection(params, on_open_callback=self.on_open,
                                                on_open_error_callback=self.on_failure,
                                                on_close_callback=self.on_closed)
        self.connection.ioloop.call_later(self.timeout, self.on_timeout)
        self.connection.ioloop.start()
        if self.error:
            raise CourseError(self.error)
        return BatchResult(self.published, self.confirmed, self.nacked, (self.finished or time.monotonic()) - self.started,
                           self.waits)

    def on_open(self, connection):
        connection.channel(on_open_callback=self.on_channel)

    def on_channel(self, channel):
        self.channel = channel
        channel.add_on_close_callback(lambda _channel, reason: self.stop(f"The channel closed: {reason}"))
        channel.confirm_delivery(ack_nack_callback=self.on_confirm, callback=self.on_confirm_mode)

    def on_confirm_mode(self, _frame):
        self.started = time.monotonic()
        self.publish_batch()

    def publish_batch(self):
        if self.published == len(self.bodies):
            self.finished = time.monotonic()
            self.stop()
            return
        for body in self.bodies[self.published:self.published + self.batch_size]:
            self.channel.basic_publish(self.exchange, self.routing_key, body, self.properties)
            self.published += 1
            self.unsettled.add(self.published)  # delivery tags count 1, 2, 3... on a confirm channel
        self.waits += 1  # now for the broker: on_confirm sends the next batch once all are settled

    def on_confirm(self, frame):
        method = frame.method
        tags = {tag for tag in self.unsettled if tag <= method.delivery_tag} if method.multiple else {method.delivery_tag}
        self.unsettled -= tags
        if isinstance(method, pika.spec.Basic.Ack):
            self.confirmed += len(tags)
        else:
            self.nacked += len(tags)
        if not self.unsettled:
            self.publish_batch()

    def on_timeout(self):
        self.stop(f"Only {self.confirmed} of {len(self.bodies)} messages were confirmed within {self.timeout:g} s.")

    def stop(self, error=None):
        if error and not self.error and self.finished is None:
            self.error = error
        if self.connection.is_open:
            self.connection.close()
        elif self.connection.is_closed:
            self.connection.ioloop.stop()

    def on_failure(self, _connection, error):
        self.error = f"Could not connect to publish with confirms ({type(error).__name__})."
        self.connection.ioloop.stop()

    def on_closed(self, _connection, reason):
        if self.finished is None and not self.error:
            self.error = f"The connection closed before every message was confirmed ({reason})."
        self.connection.ioloop.stop()


def publish_in_batches(routing_key, bodies, batch_size=100, exchange="", persistent=True, timeout=30.0):
    """Publish ``bodies`` with publisher confirms, waiting for the broker after each ``batch_size``.

    A dict or list body is sent as JSON, like ``helpers.amqp.publish``.

    Returns a ``BatchResult`` (published, confirmed, nacked, seconds, waits); raises a one-line
    CourseError if the broker cannot be reached or has not settled every message within ``timeout``.
    """
    if batch_size < 1:
        raise CourseError("batch_size is at least 1.")
    delivery_mode = pika.DeliveryMode.Persistent if persistent else pika.DeliveryMode.Transient
    properties = pika.BasicProperties(delivery_mode=delivery_mode)
    bodies = [json.dumps(body) if isinstance(body, (dict, list)) else body for body in bodies]
    bodies = [body.encode() if isinstance(body, str) else body for body in bodies]
    return _BatchPublisher(exchange, routing_key, bodies, batch_size, properties, timeout).run()
