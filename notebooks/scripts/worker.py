"""Take jobs from the work queue 'tasks' and do them, one at a time (the guide's worker.py).

    python scripts/worker.py                      # runs until you press Ctrl-C
    python scripts/worker.py --idle-timeout 5     # stops after 5 s without a job
    python scripts/worker.py --max-messages 3     # stops after 3 jobs

Start two workers in two terminals and the broker shares the jobs between them. A job that fails
is rejected, and the broker dead-letters it to the queue 'tasks.failed': nothing is dropped.
"""

import argparse
import json
import sys
import time

import pika
import pika.exceptions

# The broker's address and login are read the way the course's helpers read them: the environment,
# then the project's .env file, then the course's defaults (devuser / devpassword on localhost:5672).
# connect_or_exit is pika.BlockingConnection with those settings, or one line saying what is wrong.
from helpers.amqp import connect_or_exit  # noqa: E402

# The work queue, and where a job that fails goes: the worker rejects it, and the course's broker
# dead-letters it to 'tasks.failed' (a policy it sets on 'tasks' when it starts; lesson 09), so
# that no job is dropped. Every program declares 'tasks' the same plain way, durable and with no
# arguments, and the broker's policy does the rest.
TASK_QUEUE = "tasks"
FAILED_QUEUE = "tasks.failed"


def declare_task_queue(channel):
    """Declare 'tasks' and the queue its failed jobs go to; if 'tasks' exists with arguments of its
    own (declared by another program with x- arguments), say so in one line and exit with status 1."""
    channel.queue_declare(queue=FAILED_QUEUE, durable=True)
    try:
        channel.queue_declare(queue=TASK_QUEUE, durable=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code != 406:
            raise
        print(f"The queue '{TASK_QUEUE}' already exists with arguments these scripts do not give it: the broker said "
              f"{error.reply_text!r}. Delete it (management UI: Queues, tasks, Delete queue) and run this again.",
              file=sys.stderr)
        sys.exit(1)


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


# How long an operation takes when its job does not say (the guide's jobs carry no duration).
USUAL_SECONDS = {"resize-image": 0.3, "send-email": 0.2, "generate-report": 0.5}


def describe(payload, *names):
    """The payload's fields with these names, as text; the whole payload if it has none of them
    (the guide's jobs name an image by its id, the course's by its file)."""
    found = [str(payload[name]) for name in names if name in payload]
    return " ".join(found) if found else ", ".join(f"{key} {value}" for key, value in payload.items())


def do_job(job):
    """Do the work of one job (here: say what we do, then sleep). Raises if the job fails."""
    operation = job["operation"]
    payload = job.get("payload", {})

    if payload.get("fail"):
        raise RuntimeError(f"cannot do {operation}: the payload says it fails")

    if operation == "resize-image":
        size = payload.get("size")
        print(f"     resizing {describe(payload, 'image')}" + (f" to {size[0]}x{size[1]}" if size else ""))
    elif operation == "send-email":
        if "subject" in payload and "to" in payload:
            print(f"     sending '{payload['subject']}' to {payload['to']}")
        else:
            print(f"     sending an email: {describe(payload)}")
    elif operation == "generate-report":
        print(f"     generating report {describe(payload, 'report')}")
    else:
        raise ValueError(f"unknown operation {operation!r}")

    time.sleep(job.get("duration", USUAL_SECONDS[operation]))  # pretend the work takes this long


def main():
    parser = argparse.ArgumentParser(description="Do the jobs of the queue 'tasks'.")
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS", help="stop when no job came for this many seconds")
    parser.add_argument("--max-messages", type=int, metavar="N", help="stop after N jobs (done or failed)")
    args = parser.parse_args()

    connection = connect_or_exit("worker.py")
    channel = connection.channel()
    declare_task_queue(channel)

    # Fair dispatch: give this worker one job at a time, the next one only after it acked.
    channel.basic_qos(prefetch_count=1)

    handled = []
    idle = stop_when_idle(connection, channel, args.idle_timeout)

    def on_message(ch, method, properties, body):
        try:
            job = json.loads(body)
            print(f" [x] Received job {job['operation']} ({job.get('job_id', 'no id')})")
            do_job(job)
        except Exception as error:
            # The job failed. Reject it without requeueing: a job that always fails would
            # otherwise come back again and again. The broker's dead-letter policy for 'tasks'
            # sends it to 'tasks.failed', where it waits for a person: it is not lost.
            print(f" [!] Job failed ({error}); sent to {FAILED_QUEUE}")
            ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
        else:
            print(f" [x] Done {job['operation']}")
            # Ack only now, after the work: if this worker dies mid-job, the broker gives
            # the job to another worker.
            ch.basic_ack(delivery_tag=method.delivery_tag)
        handled.append(method.delivery_tag)
        idle()
        if args.max_messages is not None and len(handled) >= args.max_messages:
            ch.stop_consuming()

    channel.basic_consume(queue=TASK_QUEUE, on_message_callback=on_message)
    print(" [*] Waiting for jobs. To exit press CTRL+C")
    channel.start_consuming()  # returns after stop_consuming(); a job taken but not acked goes back
    connection.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly. Closing the program closes the connection, and a job
        # that was not acked yet goes back to the queue.
        print(" [*] Interrupted, bye")
        sys.exit(0)
