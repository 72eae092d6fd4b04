"""worker.py, made to last (lesson 11): it survives long jobs, a lost connection and a restart.

    python scripts/resilient_worker.py                    # runs until you press Ctrl-C
    python scripts/resilient_worker.py --idle-timeout 5   # stops after 5 s without a job
    python scripts/resilient_worker.py --heartbeat 10     # the heartbeat to ask for (default: the broker's)

Three changes from worker.py, each from lesson 11:
- each job runs in a thread of its own, and its ack goes back to the connection's thread through
  connection.add_callback_threadsafe, so that heartbeats flow however long the job takes;
- after a lost connection or channel (a broker restart, a network cut, a missed heartbeat, an
  ack timeout) it connects again, waiting a little longer after each failed attempt (0.5, 1,
  2... up to 30 s), declares the queues again and goes on; after --give-up-after seconds
  without a broker it stops;
- a refused login stops it at once: waiting will not fix a wrong password.
It takes the same jobs as worker.py, from the same queue 'tasks' (python scripts/enqueue_tasks.py).
"""

import argparse
import functools
import json
import sys
import threading
import time

import pika
import pika.exceptions

from helpers.amqp import START_HINT, login_refused_message  # noqa: E402
from helpers.config import settings  # noqa: E402
from worker import FAILED_QUEUE, TASK_QUEUE, declare_task_queue, do_job  # noqa: E402

NAME = "resilient-worker"  # how the management UI lists this worker's connection


def parameters(heartbeat):
    params = pika.URLParameters(settings().amqp_url)
    params.client_properties = {"connection_name": NAME}
    params.connection_attempts = 1
    params.socket_timeout = 5
    if heartbeat is not None:
        params.heartbeat = heartbeat
    return params


def finish(channel, delivery_tag, succeeded):
    """Runs in the connection's thread, after the job's thread is done with it."""
    if not channel.is_open:  # the connection was lost meanwhile: the broker gives the job again
        print(" [!] The job's channel closed before its ack; the broker will deliver it again")
        return
    if succeeded:
        channel.basic_ack(delivery_tag=delivery_tag)
    else:
        channel.basic_reject(delivery_tag=delivery_tag, requeue=False)  # to tasks.failed


def consume(connection, args, activity):
    """Consume on one connection until idle (returns True: stop) or the connection is lost (raises)."""
    channel = connection.channel()
    declare_task_queue(channel)  # again on each connection: the broker may have restarted
    channel.basic_qos(prefetch_count=1)
    running = []

    def on_message(ch, method, properties, body):
        def work():
            try:
                job = json.loads(body)
                print(f" [x] Received job {job['operation']} ({job['job_id']})")
                do_job(job)
            except Exception as error:
                print(f" [!] Job failed ({error}); sent to {FAILED_QUEUE}")
                succeeded = False
            else:
                print(f" [x] Done {job['operation']}")
                succeeded = True
            try:
                connection.add_callback_threadsafe(functools.partial(finish, ch, method.delivery_tag, succeeded))
            except pika.exceptions.ConnectionWrongStateError:  # lost meanwhile: the job will come again
                print(" [!] The connection closed before the job's ack; the broker will deliver it again")
            activity["last"] = time.monotonic()
            running.remove(thread)

        thread = threading.Thread(target=work, daemon=True)
        running.append(thread)
        activity["last"] = time.monotonic()
        thread.start()

    channel.basic_consume(queue=TASK_QUEUE, on_message_callback=on_message)
    while True:
        connection.process_data_events(time_limit=0.5)  # heartbeats and acks go out here
        if channel.is_closed:  # the broker closed the channel (an ack timeout): start afresh
            connection.close()
            raise pika.exceptions.ChannelWrongStateError("the broker closed the channel")
        idle = time.monotonic() - activity["last"]
        if args.idle_timeout is not None and not running and idle > args.idle_timeout:
            print(f" [*] Nothing for {args.idle_timeout:g} s, stopping")
            connection.close()
            return True


def main():
    parser = argparse.ArgumentParser(description="Do the jobs of the queue 'tasks', reconnecting after a lost connection.")
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS", help="stop when no job came for this many seconds")
    parser.add_argument("--heartbeat", type=int, metavar="SECONDS", help="the heartbeat to ask for (0: none; default: the broker's)")
    parser.add_argument("--give-up-after", type=float, default=60, metavar="SECONDS",
                        help="stop when the broker stays unreachable this long (default 60)")
    args = parser.parse_args()

    params = parameters(args.heartbeat)
    where = f"{params.host}:{params.port}"
    activity = {"last": time.monotonic()}
    delay, unreachable_since, announced = 0.5, None, False
    while True:
        try:
            connection = pika.BlockingConnection(params)
        except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError,
                pika.exceptions.ProbableAccessDeniedError):
            print(login_refused_message(params.credentials.username, where), file=sys.stderr)
            sys.exit(1)
        except pika.exceptions.AMQPConnectionError:
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since + delay > args.give_up_after:
                print(f"Cannot connect to RabbitMQ at {where} for {args.give_up_after:g} s: is it running? {START_HINT}",
                      file=sys.stderr)
                sys.exit(1)
            time.sleep(delay)
            delay = min(delay * 2, 30)
            continue
        if not announced:
            print(" [*] Waiting for jobs. To exit press CTRL+C")
            announced = True
        else:
            print(" [*] Connected again")
        delay, unreachable_since = 0.5, None
        try:
            if consume(connection, args, activity):
                return
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as error:
            if connection.is_open:
                connection.close()
            print(f" [!] Connection lost ({type(error).__name__}); connecting again")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly. The connection closes with the program, and a job not acked yet
        # goes back to the queue.
        print(" [*] Interrupted, bye")
        sys.exit(0)
