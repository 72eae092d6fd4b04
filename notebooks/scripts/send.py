"""Send one message to the queue 'hello' (the guide's send.py).

    python scripts/send.py                  # sends 'Hello RabbitMQ!'
    python scripts/send.py Hi there         # sends 'Hi there'
"""

import sys

import pika

# The broker's address and login are read the way the course's helpers read them: the environment,
# then the project's .env file, then the course's defaults (devuser / devpassword on localhost:5672).
# connect_or_exit is pika.BlockingConnection with those settings, or one line saying what is wrong.
from helpers.amqp import connect_or_exit  # noqa: E402


def main():
    # The message is the text given on the command line, or 'Hello RabbitMQ!'.
    message = " ".join(sys.argv[1:]) or "Hello RabbitMQ!"

    connection = connect_or_exit("send.py")
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
