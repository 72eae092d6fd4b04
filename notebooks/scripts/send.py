"""Send one message to the queue 'hello' (the guide's send.py).

    python scripts/send.py                  # sends 'Hello RabbitMQ!'
    python scripts/send.py Hi there         # sends 'Hi there'
"""

import sys

import pika
import pika.exceptions

# The broker's address, read the way the course's helpers read it: the environment, then the
# project's .env file, then the course's defaults (devuser / devpassword on localhost:5672).
from helpers.config import settings  # noqa: E402

AMQP_URL = settings().amqp_url
START_HINT = "Start the course's broker with: make broker  (or: python -m helpers.ops.broker up)"


def connect():
    """Connect to RabbitMQ, or print one line saying what is wrong and exit with status 1."""
    params = pika.URLParameters(AMQP_URL)
    where = f"{params.host}:{params.port}"
    try:
        return pika.BlockingConnection(params)
    except (pika.exceptions.ProbableAuthenticationError,
            pika.exceptions.AuthenticationError,
            pika.exceptions.ProbableAccessDeniedError):
        print(f"RabbitMQ at {where} refused the login for user '{params.credentials.username}'"
              f" (vhost '{params.virtual_host}'): check AMQP_URL; the course's broker uses"
              f" devuser / devpassword. {START_HINT}", file=sys.stderr)
    except pika.exceptions.AMQPConnectionError:
        print(f"Cannot connect to RabbitMQ at {where}: is it running? {START_HINT}", file=sys.stderr)
    sys.exit(1)


def main():
    # The message is the text given on the command line, or 'Hello RabbitMQ!'.
    message = " ".join(sys.argv[1:]) or "Hello RabbitMQ!"

    connection = connect()
    channel = connection.channel()

    # Declaring a queue is idempotent: it is created only if it does not exist yet.
    # durable=True: the queue itself survives a broker restart.
    channel.queue_declare(queue="hello", durable=True)

    # The default exchange ("") delivers a message to the queue named by routing_key.
    # delivery_mode=Persistent: the message is written to disk, so it survives a restart too.
    channel.basic_publish(exchange="", routing_key="hello", body=message,
                          properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    print(f" [x] Sent '{message}'")

    # Closing the connection makes sure the message has really left this program.
    connection.close()


if __name__ == "__main__":
    main()
