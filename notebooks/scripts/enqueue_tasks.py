"""Put three jobs on the work queue 'tasks' for worker.py to do (the guide's enqueue_tasks.py).

    python scripts/enqueue_tasks.py                 # resize-image, send-email, generate-report
    python scripts/enqueue_tasks.py --with-failure  # and a fourth job that always fails
"""

import argparse
import json
import uuid

import pika
import pika.exceptions

# The broker's address and login are read the way the course's helpers read them: the environment,
# then the project's .env file, then the course's defaults (devuser / devpassword on localhost:5672).
# connect_or_exit is pika.BlockingConnection with those settings, or one line saying what is wrong.
from helpers.amqp import connect_or_exit  # noqa: E402
# The work queue, declared as worker.py declares it: durable, with no arguments (the broker's policy
# sends the jobs that fail to 'tasks.failed').
from worker import TASK_QUEUE, declare_task_queue  # noqa: E402


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

    connection = connect_or_exit("enqueue_tasks.py")
    channel = connection.channel()
    declare_task_queue(channel)  # durable, and the queue for failed jobs

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
