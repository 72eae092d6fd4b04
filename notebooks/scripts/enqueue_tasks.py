"""Put three jobs on the work queue 'tasks' for worker.py to do (the guide's enqueue_tasks.py).

    python scripts/enqueue_tasks.py                 # resize-image, send-email, generate-report
    python scripts/enqueue_tasks.py --with-failure  # and a fourth job that always fails
"""

import argparse
import json
import sys
import uuid

import pika
import pika.exceptions

# The broker's address, read the way the course's helpers read it: the environment, then the
# project's .env file, then the course's defaults (devuser / devpassword on localhost:5672).
from helpers.config import settings  # noqa: E402

AMQP_URL = settings().amqp_url
START_HINT = "Start the course's broker with: make broker  (or: python -m helpers.ops.broker up)"

# The work queue, and where a job that fails goes: rejected jobs are dead-lettered (through the
# default exchange) to 'tasks.failed', so that no job is ever dropped. Every program that declares
# 'tasks' declares it with the same arguments.
TASK_QUEUE = "tasks"
FAILED_QUEUE = "tasks.failed"
TASK_QUEUE_ARGUMENTS = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": FAILED_QUEUE}


def declare_task_queue(channel):
    channel.queue_declare(queue=FAILED_QUEUE, durable=True)
    channel.queue_declare(queue=TASK_QUEUE, durable=True, arguments=TASK_QUEUE_ARGUMENTS)


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
    parser = argparse.ArgumentParser(description="Publish jobs to the queue 'tasks'.")
    parser.add_argument("--with-failure", action="store_true",
                        help="also publish a job whose payload has \"fail\": true (the worker fails on it)")
    args = parser.parse_args()

    # Each job: a unique id, what to do (operation), the data to do it with (payload),
    # and how long the worker pretends to work on it (duration, in seconds).
    jobs = [
        {"operation": "resize-image", "payload": {"image": "photos/cat.jpg", "size": [640, 480]}, "duration": 0.3},
        {"operation": "send-email", "payload": {"to": "ada@example.com", "subject": "Your report is ready"}, "duration": 0.2},
        {"operation": "generate-report", "payload": {"report": "monthly-sales"}, "duration": 0.5},
    ]
    if args.with_failure:
        jobs.append({"operation": "resize-image", "payload": {"image": "photos/broken.jpg", "size": [640, 480], "fail": True},
                     "duration": 0.1})

    connection = connect()
    channel = connection.channel()
    declare_task_queue(channel)  # durable, with its dead-letter queue for failed jobs

    for job in jobs:
        job["job_id"] = str(uuid.uuid4())
        channel.basic_publish(
            exchange="",
            routing_key=TASK_QUEUE,
            body=json.dumps(job),
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,  # the message survives a restart too
                content_type="application/json",
            ),
        )
        print(f" [x] Sent job {job['operation']} ({job['job_id']})")

    connection.close()


if __name__ == "__main__":
    main()
