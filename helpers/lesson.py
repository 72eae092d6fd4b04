"""The one setup call at the top of every lesson.

    lesson = start_lesson(queues=["hello"])

checks that the broker answers (failing within 5 s with one line that says how to start it),
makes a course error show as that one line instead of a traceback, and gives the lesson a
clean slate: the queues and exchanges it names are deleted, so Run All works twice in a row.

Introduced in lesson 00.
"""

from dataclasses import dataclass

import pika

from .amqp import connect
from .errors import show_course_errors_briefly
from .management import ManagementAPI, management_api


MOST_CHANNELS = 2047  # RabbitMQ's channel_max: numbers go round from 1 after this


@dataclass
class Lesson:
    """What a lesson works with: an open AMQP connection and channel, and the management API."""

    connection: pika.BlockingConnection
    channel: pika.adapters.blocking_connection.BlockingChannel
    api: ManagementAPI
    version: str

    def new_channel(self):
        """A fresh channel, the old one closed (the broker closes a channel after an error such as
        a failed declare). After the lesson's last cell closed the connection, a new connection:
        an exercise done after a Run All starts with this."""
        if self.connection.is_closed:
            self.connection = connect(name="lesson")
            self.channel = self.connection.channel()
            return self.channel
        if self.channel.is_open:
            self.channel.close()
        # Not the closed channel's number again: the broker may list that one's statistics under it
        # for a moment, and a check reads the new channel's (lesson 02).
        last = self.channel.channel_number
        taken = set(self.connection._impl._channels)  # pika's open channels of this connection, by number
        number = next(n for n in [*range(last + 1, MOST_CHANNELS + 1), *range(1, last + 1)] if n not in taken)
        self.channel = self.connection.channel(channel_number=number)
        return self.channel

    def clean(self, queues=(), exchanges=()):
        """Delete these queues and exchanges if they exist (deleting a missing one is not an error)."""
        channel = self.new_channel()
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)

    def close(self):
        if self.connection.is_open:
            self.connection.close()

    def reconnect(self, name="lesson"):
        """A new connection and channel after the old one was lost (lesson 06 restarts the broker)."""
        try:
            self.close()
        except pika.exceptions.AMQPError:
            pass  # it was already gone
        self.connection = connect(name=name)
        return self.new_channel()


def start_lesson(queues=(), exchanges=(), name="lesson", own_broker=None, own_broker_required=True):
    """Connect (or fail fast), clean the lesson's queues and exchanges, and say which broker this is.

    ``own_broker``: what the lesson does to its broker ("restarts its broker"). In a workshop on a
    shared broker such a lesson runs on a node of the attendee's own (helpers/ops/own_node.py);
    with ``own_broker_required=False`` it goes on on the room's broker where no node can start."""
    from .charts import use_course_style

    show_course_errors_briefly()
    use_course_style()
    if own_broker:
        from .ops.own_node import use_own_node

        use_own_node(own_broker, required=own_broker_required)
    connection = connect(name=name)
    api = management_api()
    version = api.overview().get("rabbitmq_version", "?")
    lesson = Lesson(connection, connection.channel(), api, version)
    lesson.clean(queues, exchanges)
    print(f"Connected to RabbitMQ {version}. Clean slate: {', '.join([*queues, *exchanges]) or 'nothing to clean'}.")
    return lesson
