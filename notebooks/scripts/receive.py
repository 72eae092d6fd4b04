"""Print the messages of the queue 'hello' (the guide's receive.py).

    python scripts/receive.py                      # runs until you press Ctrl-C
    python scripts/receive.py --idle-timeout 5     # stops after 5 s without a message
    python scripts/receive.py --max-messages 3     # stops after 3 messages
"""

import argparse
import sys

# The broker's address and login are read the way the course's helpers read them: the environment,
# then the project's .env file, then the course's defaults (devuser / devpassword on localhost:5672).
# connect_or_exit is pika.BlockingConnection with those settings, or one line saying what is wrong.
from helpers.amqp import connect_or_exit  # noqa: E402


def stop_when_idle(connection, channel, seconds):
    """Stop start_consuming() after ``seconds`` without a message (none: run until Ctrl-C).
    Returns a function to call on each message, which starts the wait again."""
    timer = []

    def restart():
        if seconds is None:
            return
        if timer:
            connection.remove_timeout(timer.pop())

        def stop():
            print(f" [*] Nothing for {seconds:g} s, stopping")
            channel.stop_consuming()

        timer.append(connection.call_later(seconds, stop))

    restart()
    return restart


def main():
    parser = argparse.ArgumentParser(description="Print the messages of the queue 'hello'.")
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS", help="stop when no message came for this many seconds")
    parser.add_argument("--max-messages", type=int, metavar="N", help="stop after N messages")
    args = parser.parse_args()

    connection = connect_or_exit("receive.py")
    channel = connection.channel()

    # Declare the queue here too: whichever program starts first creates it.
    channel.queue_declare(queue="hello", durable=True)
    # One unacknowledged message at a time: the next one comes after this one is acked.
    channel.basic_qos(prefetch_count=1)

    received = []
    idle = stop_when_idle(connection, channel, args.idle_timeout)

    def on_message(ch, method, properties, body):
        print(f" [x] Received '{body.decode()}'")
        # Acknowledge: the broker may now forget the message.
        ch.basic_ack(delivery_tag=method.delivery_tag)
        received.append(body)
        idle()
        if args.max_messages is not None and len(received) >= args.max_messages:
            ch.stop_consuming()

    channel.basic_consume(queue="hello", on_message_callback=on_message)
    print(" [*] Waiting for messages. To exit press CTRL+C")
    channel.start_consuming()  # returns after stop_consuming(); an unacked message goes back to the queue
    connection.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly. Closing the program closes the connection.
        print(" [*] Interrupted, bye")
        sys.exit(0)
