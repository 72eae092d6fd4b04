"""Put three jobs on the work queue 'task_queue' for worker.py to do.

    python notebooks/scripts/enqueue_tasks.py                 # resize-image, send-email, generate-report
    python notebooks/scripts/enqueue_tasks.py --with-failure  # and a fourth job that always fails
"""

import argparse
import json
import os
import sys
import uuid

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
    parser = argparse.ArgumentParser(description="Publish jobs to the queue 'task_queue'.")
    parser.add_argument("--with-failure", action="store_true",
                        help="also publish a job whose payload has \"fail\": true (the worker fails on it)")
    args = parser.parse_args()

    # Each job: a unique id, what to do (task), the data to do it with (payload),
    # and how long the worker pretends to work on it (duration, in seconds).
    jobs = [
        {"task": "resize-image", "payload": {"image": "photos/cat.jpg", "size": [640, 480]}, "duration": 0.3},
        {"task": "send-email", "payload": {"to": "ada@example.com", "subject": "Your report is ready"}, "duration": 0.2},
        {"task": "generate-report", "payload": {"report": "monthly-sales"}, "duration": 0.5},
    ]
    if args.with_failure:
        jobs.append({"task": "resize-image", "payload": {"image": "photos/broken.jpg", "size": [640, 480], "fail": True},
                     "duration": 0.1})

    connection = connect()
    channel = connection.channel()

    # durable=True: the queue survives a broker restart.
    channel.queue_declare(queue="task_queue", durable=True)

    for job in jobs:
        job["job_id"] = str(uuid.uuid4())
        channel.basic_publish(
            exchange="",
            routing_key="task_queue",
            body=json.dumps(job),
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,  # the message survives a restart too
                content_type="application/json",
            ),
        )
        print(f" [x] Sent job {job['task']} ({job['job_id']})")

    connection.close()


if __name__ == "__main__":
    main()
