"""Take jobs from the work queue 'task_queue' and do them, one at a time.

    python notebooks/scripts/worker.py                      # runs until you press Ctrl-C
    python notebooks/scripts/worker.py --idle-timeout 5     # stops after 5 s without a job
    python notebooks/scripts/worker.py --max-messages 3     # stops after 3 jobs

Start two workers in two terminals and the broker shares the jobs between them.
"""

import argparse
import json
import os
import sys
import time

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


def do_job(job):
    """Do the work of one job (here: say what we do, then sleep). Raises if the job fails."""
    task = job["task"]
    payload = job["payload"]

    if payload.get("fail"):
        raise RuntimeError(f"cannot do {task}: the payload says it fails")

    if task == "resize-image":
        width, height = payload["size"]
        print(f"     resizing {payload['image']} to {width}x{height}")
    elif task == "send-email":
        print(f"     sending '{payload['subject']}' to {payload['to']}")
    elif task == "generate-report":
        print(f"     generating report {payload['report']}")
    else:
        raise ValueError(f"unknown task {task!r}")

    time.sleep(job["duration"])  # pretend the work takes this long


def main():
    parser = argparse.ArgumentParser(description="Do the jobs of the queue 'task_queue'.")
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                        help="stop when no job came for this many seconds")
    parser.add_argument("--max-messages", type=int, metavar="N",
                        help="stop after N jobs (done or failed)")
    args = parser.parse_args()

    connection = connect()
    channel = connection.channel()
    channel.queue_declare(queue="task_queue", durable=True)

    # Fair dispatch: give this worker one job at a time, the next one only after it acked.
    channel.basic_qos(prefetch_count=1)

    print(" [*] Waiting for jobs. To exit press CTRL+C")

    handled = 0
    # consume() hands us the jobs one by one; (None, None, None) means nothing came for
    # idle_timeout seconds (with no idle_timeout it waits forever).
    for method, properties, body in channel.consume("task_queue", inactivity_timeout=args.idle_timeout):
        if method is None:
            print(f" [*] No job for {args.idle_timeout:g} s, stopping")
            break

        try:
            job = json.loads(body)
            print(f" [x] Received job {job['task']} ({job['job_id']})")
            do_job(job)
        except Exception as error:
            # The job failed. Give it one more try, but not forever: a job that always fails
            # would otherwise come back again and again. 'redelivered' is True when the broker
            # has delivered this message before (we nacked it, or a worker stopped before acking).
            if not method.redelivered:
                print(f" [!] Job failed ({error}); requeued for one more try")
                channel.basic_nack(method.delivery_tag, requeue=True)
            else:
                print(f" [!] Job failed again ({error}); dropped")
                channel.basic_nack(method.delivery_tag, requeue=False)
        else:
            print(f" [x] Done {job['task']}")
            # Ack only now, after the work: if this worker dies mid-job, the broker gives
            # the job to another worker.
            channel.basic_ack(method.delivery_tag)

        handled += 1
        if args.max_messages is not None and handled >= args.max_messages:
            break

    # Stop consuming; a job taken but not acked goes back to the queue.
    channel.cancel()
    connection.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly. Closing the program closes the connection, and a job
        # that was not acked yet goes back to the queue.
        print(" [*] Interrupted, bye")
        sys.exit(0)
