"""The RPC server process, as ``helpers.lab.rpc.RpcServer`` starts it (not imported by lessons).

    python -m helpers.lab.rpc_server --queue rpc_queue --name pricing-server --report REPORT.jsonl [options]

It declares the durable request queue, takes one request at a time (prefetch 1), answers each
with a price quote (``helpers.lab.rpc.quote``) to the request's ``reply_to`` with the same
``correlation_id``, then acknowledges it. Every event (``ready``, ``request``, ``replied``,
``stopped``) is appended to the report file as one JSON line. It is bounded: it stops on SIGTERM
(after the request in hand) and by itself after ``--idle-timeout`` seconds without a request.

``--mode twice`` sends every reply twice and ``--mode slow`` answers after ``--delay`` seconds:
the two misbehaviours a client must survive.

Introduced in lesson 08.
"""

import argparse
import json
import os
import signal
import sys
import time

import pika
import pika.exceptions

from ..amqp import connect
from ..errors import CourseError
from .rpc import quote


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.rpc_server")
    parser.add_argument("--queue", default="rpc_queue")
    parser.add_argument("--name", default="pricing-server")
    parser.add_argument("--report", required=True)
    parser.add_argument("--mode", choices=["normal", "twice", "slow"], default="normal")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds before answering in --mode slow")
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="stop after this many seconds without a request")
    args = parser.parse_args(argv)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: stopping.append("SIGINT"))
    report_file = open(args.report, "a", buffering=1)

    def report(event, **fields):
        report_file.write(json.dumps({"server": args.name, "pid": os.getpid(), "event": event, "time": time.time(), **fields}) + "\n")
        report_file.flush()

    try:
        connection = connect(name=args.name)
    except CourseError as error:
        report("stopped", reason=str(error))
        print(error, file=sys.stderr)
        return 1
    channel = connection.channel()
    channel.queue_declare(args.queue, durable=True)
    channel.basic_qos(prefetch_count=1)
    state = {"requests": 0, "last": time.monotonic()}

    def on_request(channel, method, properties, body):
        state["requests"] += 1
        number = state["requests"]
        try:
            request = json.loads(body)
        except ValueError:
            request = {"item": None}
        item = request.get("item") if isinstance(request, dict) else None
        report("request", request=number, item=item)
        if args.mode == "slow":
            time.sleep(args.delay)
        answer = quote(request) if isinstance(request, dict) else {"error": "a request is a JSON object"}
        replies = 2 if args.mode == "twice" else 1
        if properties.reply_to:
            reply_properties = pika.BasicProperties(correlation_id=properties.correlation_id, content_type="application/json")
            for _ in range(replies):
                channel.basic_publish("", properties.reply_to, json.dumps(answer).encode(), properties=reply_properties)
        else:
            replies = 0  # nowhere to answer
        channel.basic_ack(method.delivery_tag)
        report("replied", request=number, item=item, replies=replies, quantity=request.get("quantity") if isinstance(request, dict) else None,
               total=answer.get("total"), correlation_id=properties.correlation_id, reply_to=properties.reply_to)
        state["last"] = time.monotonic()

    channel.basic_consume(args.queue, on_request)
    report("ready", queue=args.queue, mode=args.mode)
    reason = None
    while reason is None:
        connection.process_data_events(time_limit=0.1)
        if stopping:
            reason = stopping[0]
        elif time.monotonic() - state["last"] > args.idle_timeout:
            reason = f"idle for {args.idle_timeout:g} s"
    try:
        connection.close()
    except pika.exceptions.AMQPError:
        pass
    report("stopped", reason=reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
