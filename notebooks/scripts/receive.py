"""Receive messages from the queue 'hello' and print them.

    python notebooks/scripts/receive.py                      # runs until you press Ctrl-C
    python notebooks/scripts/receive.py --idle-timeout 5     # stops after 5 s without a message
    python notebooks/scripts/receive.py --max-messages 3     # stops after 3 messages
"""

import argparse
import os
import sys

import pika
import pika.exceptions

AMQP_URL = os.environ.get("AMQP_URL", "amqp://devuser:devpassword@localhost:5672/")
START_HINT = "Start the course's broker with: make broker  (or: python -m helpers.broker up)"


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
    parser = argparse.ArgumentParser(description="Print the messages of the queue 'hello'.")
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                        help="stop when no message came for this many seconds")
    parser.add_argument("--max-messages", type=int, metavar="N",
                        help="stop after N messages")
    args = parser.parse_args()

    connection = connect()
    channel = connection.channel()

    # Declare the queue here too: whichever program starts first creates it.
    channel.queue_declare(queue="hello", durable=True)

    print(" [*] Waiting for messages. To exit press CTRL+C")

    received = 0
    # channel.consume() hands us the messages one by one. With an inactivity_timeout it
    # hands us (None, None, None) when nothing came for that long; without one it waits forever.
    for method, properties, body in channel.consume("hello", inactivity_timeout=args.idle_timeout):
        if method is None:
            print(f" [*] No message for {args.idle_timeout:g} s, stopping")
            break

        print(f" [x] Received '{body.decode()}'")
        # Acknowledge: the broker may now forget the message. (We ack by hand rather than use
        # auto_ack, so messages the broker sent ahead but we did not take go back to the queue.)
        channel.basic_ack(method.delivery_tag)

        received += 1
        if args.max_messages is not None and received >= args.max_messages:
            break

    # Stop consuming; unacknowledged messages go back to the queue.
    channel.cancel()
    connection.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly. Closing the program closes the connection.
        print(" [*] Interrupted, bye")
        sys.exit(0)
