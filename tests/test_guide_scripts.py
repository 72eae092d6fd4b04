"""The guide's scripts (notebooks/scripts/), run as a learner runs them, against the real broker.

The scripts use the fixed queue names 'hello', 'tasks' and 'tasks.failed' (where the broker's
policy for 'tasks' dead-letters the worker's failed jobs); each test starts with them deleted.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pika
import pika.exceptions
import pytest

from helpers.config import settings
from limits import NEVER_HANGS

SCRIPTS = Path(__file__).resolve().parent.parent / "notebooks" / "scripts"
AMQP_URL = settings().amqp_url
QUEUES = ("hello", "tasks", "tasks.failed")
JOBS = ("resize-image", "send-email", "generate-report")


def run(script, *args, url=AMQP_URL, timeout=30):
    """Run one script to its end; return the CompletedProcess (text stdout/stderr)."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        capture_output=True, text=True, timeout=timeout, env=script_env(url),
    )


def script_env(url=AMQP_URL):
    return dict(os.environ, AMQP_URL=url, PYTHONUNBUFFERED="1")


def open_channel():
    params = pika.URLParameters(AMQP_URL)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.stack_timeout = 5
    connection = pika.BlockingConnection(params)
    return connection, connection.channel()


def message_count(queue):
    """Messages ready in ``queue`` (a passive declare: it does not create the queue)."""
    connection, channel = open_channel()
    try:
        return channel.queue_declare(queue=queue, passive=True).method.message_count
    finally:
        connection.close()


def wait_for_count(queue, expected, timeout=5.0):
    """The queue's message count once it equals ``expected``, else the last one seen after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        count = message_count(queue)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def delete_queues():
    try:
        connection, channel = open_channel()
    except pika.exceptions.AMQPConnectionError as error:
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} ({error!r}); start it with: make broker")
    for queue in QUEUES:
        channel.queue_delete(queue=queue)
    connection.close()


@pytest.fixture(autouse=True)
def fresh_queues():
    """Each test starts with the scripts' queues gone, and leaves them gone."""
    delete_queues()
    yield
    delete_queues()


def lines_with(output, text):
    return [line for line in output.splitlines() if text in line]


def test_send_then_receive_gets_the_message():
    sent = run("send.py")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == " [x] Sent 'Hello RabbitMQ!'\n"

    received = run("receive.py", "--idle-timeout", "1")
    assert received.returncode == 0, received.stderr
    assert " [*] Waiting for messages. To exit press CTRL+C" in received.stdout
    assert lines_with(received.stdout, "Received") == [" [x] Received 'Hello RabbitMQ!'"]
    assert message_count("hello") == 0


def test_send_takes_the_text_from_the_command_line():
    sent = run("send.py", "Hi", "there")
    assert sent.stdout == " [x] Sent 'Hi there'\n"
    received = run("receive.py", "--idle-timeout", "1")
    assert lines_with(received.stdout, "Received") == [" [x] Received 'Hi there'"]


def test_receive_max_messages_leaves_the_rest_in_the_queue():
    for n in range(3):
        assert run("send.py", f"message {n}").returncode == 0

    received = run("receive.py", "--max-messages", "2")
    assert received.returncode == 0, received.stderr
    assert lines_with(received.stdout, "Received") == [" [x] Received 'message 0'", " [x] Received 'message 1'"]
    # Messages the broker had sent ahead but the script did not take went back to the queue.
    assert wait_for_count("hello", 1) == 1


def test_worker_does_the_three_jobs_and_empties_the_queue():
    enqueued = run("enqueue_tasks.py")
    assert enqueued.returncode == 0, enqueued.stderr
    sent_lines = enqueued.stdout.splitlines()
    assert len(sent_lines) == 3
    for line, task in zip(sent_lines, JOBS):
        assert f"Sent job {task} (" in line

    worker = run("worker.py", "--idle-timeout", "2")
    assert worker.returncode == 0, worker.stderr
    assert lines_with(worker.stdout, "Done") == [f" [x] Done {task}" for task in JOBS]
    assert len(lines_with(worker.stdout, "Received job")) == 3
    assert "failed" not in worker.stdout
    # The job ids the worker saw are the ones enqueue_tasks.py printed.
    job_ids = {line.rsplit("(", 1)[1] for line in sent_lines}
    assert {line.rsplit("(", 1)[1] for line in lines_with(worker.stdout, "Received job")} == job_ids
    assert message_count("tasks") == 0


def test_jobs_are_persistent_json_with_the_documented_fields():
    assert run("enqueue_tasks.py").returncode == 0
    connection, channel = open_channel()
    try:
        jobs = []
        for _ in JOBS:
            method, properties, body = channel.basic_get("tasks", auto_ack=True)
            assert method is not None
            assert properties.delivery_mode == 2
            jobs.append(json.loads(body))
    finally:
        connection.close()
    assert [job["operation"] for job in jobs] == list(JOBS)
    for job in jobs:
        assert set(job) >= {"job_id", "operation", "payload", "duration"}
        uuid.UUID(job["job_id"])
        assert 0 < job["duration"] <= 1
        assert not job["payload"].get("fail")


def test_worker_max_messages_stops_after_n_jobs():
    assert run("enqueue_tasks.py").returncode == 0
    worker = run("worker.py", "--max-messages", "2")
    assert worker.returncode == 0, worker.stderr
    assert lines_with(worker.stdout, "Done") == [f" [x] Done {task}" for task in JOBS[:2]]
    assert wait_for_count("tasks", 1) == 1


def test_the_worker_sets_prefetch_1_and_stops_after_its_idle_time():
    started = time.monotonic()
    worker = run("worker.py", "--idle-timeout", "1")
    assert worker.returncode == 0, worker.stderr
    assert 1 <= time.monotonic() - started < NEVER_HANGS
    assert " [*] Nothing for 1 s, stopping" in worker.stdout
    assert "basic_qos(prefetch_count=1)" in (SCRIPTS / "worker.py").read_text()
    assert "basic_qos(prefetch_count=1)" in (SCRIPTS / "receive.py").read_text()


def test_a_failing_job_is_dead_lettered_never_dropped():
    enqueued = run("enqueue_tasks.py", "--with-failure")
    assert len(enqueued.stdout.splitlines()) == 4
    failing_id = enqueued.stdout.splitlines()[-1].rsplit("(", 1)[1].rstrip(")")
    worker = run("worker.py", "--idle-timeout", "2")
    assert worker.returncode == 0, worker.stderr
    assert len(lines_with(worker.stdout, "Done")) == 3
    assert lines_with(worker.stdout, "Job failed") == [" [!] Job failed (cannot do resize-image: the payload says it fails); sent to tasks.failed"]
    assert message_count("tasks") == 0
    assert wait_for_count("tasks.failed", 1) == 1  # the failed job waits there for a person
    connection, channel = open_channel()
    try:
        method, properties, body = channel.basic_get("tasks.failed", auto_ack=True)
    finally:
        connection.close()
    assert json.loads(body)["job_id"] == failing_id
    assert properties.headers["x-death"][0]["reason"] == "rejected"


ALL_SCRIPTS = ("send.py", "receive.py", "enqueue_tasks.py", "worker.py")


@pytest.mark.parametrize("script", ALL_SCRIPTS)
def test_broker_down_gives_one_line_and_status_1(script):
    started = time.monotonic()
    result = run(script, url="amqp://devuser:devpassword@127.0.0.1:1/", timeout=NEVER_HANGS)
    assert time.monotonic() - started < NEVER_HANGS
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1:1" in lines[0]
    assert "make broker" in lines[0] and "python -m helpers.ops.broker up" in lines[0]


def test_the_resilient_worker_gives_up_on_a_missing_broker_with_one_line():
    result = run("resilient_worker.py", "--give-up-after", "1", url="amqp://devuser:devpassword@127.0.0.1:1/", timeout=5)
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1 for 1 s" in lines[0] and "make broker" in lines[0], result.stderr


@pytest.mark.parametrize("script", [*ALL_SCRIPTS, "resilient_worker.py"])
def test_refused_login_gives_one_line_and_status_1(script):
    params = pika.URLParameters(AMQP_URL)
    url = f"amqp://devuser:not-the-password-{uuid.uuid4().hex[:8]}@{params.host}:{params.port}/"
    result = run(script, url=url, timeout=10)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refused the login for user 'devuser'" in lines[0]
    assert "not-the-password" not in lines[0]  # the password is not shown
    # It names the setting that holds the wrong password, and does not say to start a broker that runs.
    assert "AMQP_URL (set in the environment)" in lines[0] and "make broker" not in lines[0]


@pytest.mark.parametrize("script", ["worker.py", "enqueue_tasks.py"])
def test_tasks_declared_with_x_arguments_gives_one_line_and_status_1(script):
    connection, channel = open_channel()
    try:
        channel.queue_delete("tasks")
        channel.queue_declare("tasks", durable=True, arguments={"x-max-length": 100})  # another program's settings
        result = run(script, *(["--idle-timeout", "1"] if script == "worker.py" else []))
    finally:
        channel.queue_delete("tasks")
        connection.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "The queue 'tasks' already exists with arguments" in lines[0], result.stderr


# A program written as the guide writes it: 'tasks' declared plainly, durable and with no
# arguments, and a job that names its operation and payload, nothing more.
GUIDE_JOBS = [{"operation": "resize-image", "payload": {"image_id": 1}},
              {"operation": "send-email", "payload": {"user_id": 42}},
              {"operation": "generate-report", "payload": {"report_id": 7}}]


def publish_as_the_guide_does(jobs):
    connection, channel = open_channel()
    try:
        channel.queue_declare(queue="tasks", durable=True)
        for job in jobs:
            channel.basic_publish("", "tasks", json.dumps(job), pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


@pytest.mark.parametrize("first", ["a plain program", "the course's scripts"])
def test_a_plain_program_and_the_course_scripts_share_tasks_in_either_order(first):
    """The course's scripts declare 'tasks' as any program does, so neither order gets a 406; the
    worker does the guide's jobs (no id, no duration, an id for a payload) with the course's, and
    a failing job still goes to 'tasks.failed', by the broker's policy."""
    if first == "a plain program":
        publish_as_the_guide_does(GUIDE_JOBS)
        assert run("enqueue_tasks.py", "--with-failure").returncode == 0
    else:
        assert run("enqueue_tasks.py", "--with-failure").returncode == 0
        publish_as_the_guide_does(GUIDE_JOBS)
    worker = run("worker.py", "--idle-timeout", "2")
    assert worker.returncode == 0 and worker.stderr == "", worker.stderr
    assert len(lines_with(worker.stdout, "Done")) == 6, worker.stdout
    assert lines_with(worker.stdout, "resizing image_id 1") and lines_with(worker.stdout, "Received job send-email (no id)")
    assert len(lines_with(worker.stdout, "Job failed")) == 1
    assert message_count("tasks") == 0
    assert wait_for_count("tasks.failed", 1) == 1


def test_tasks_gets_its_dead_letters_from_the_brokers_policy_not_from_arguments():
    from helpers.management import management_api

    assert run("enqueue_tasks.py").returncode == 0
    api = management_api()
    queue = api.queue("tasks")
    assert not [key for key in queue["arguments"] if key.startswith("x-dead-letter")], queue["arguments"]
    assert wait_for_policy(api, "tasks") == "tasks-dead-letters"
    assert api.queue("tasks")["effective_policy_definition"] == {"dead-letter-exchange": "", "dead-letter-routing-key": "tasks.failed"}


def wait_for_policy(api, queue, timeout=10.0):
    """The name of the policy the API shows on ``queue`` (its statistics arrive a moment after it is declared)."""
    deadline = time.monotonic() + timeout
    while True:
        policy = api.queue(queue).get("policy")
        if policy or time.monotonic() > deadline:
            return policy
        time.sleep(0.2)


def start(script, *args):
    """Start a script in the background; it is killed after 20 s whatever happens. It takes
    SIGINT as Ctrl+C in a terminal, however the suite was started (conftest.py's
    interrupt_on_signals)."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env(),
    )
    killer = threading.Timer(20, process.kill)
    killer.daemon = True
    killer.start()
    return process, killer


def read_until(process, text):
    """Read the process's stdout up to the line containing ``text``; return what was read."""
    seen = []
    for line in process.stdout:  # ends early if the process dies or is killed
        seen.append(line)
        if text in line:
            break
    return "".join(seen)


@pytest.mark.parametrize("script", ["receive.py", "worker.py", "resilient_worker.py"])
def test_ctrl_c_exits_cleanly(script):
    process, killer = start(script)
    try:
        assert "To exit press CTRL+C" in read_until(process, "To exit press CTRL+C")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        killer.cancel()
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert err == ""
    assert "Interrupted" in out


def test_ctrl_c_mid_job_puts_the_job_back():
    assert run("enqueue_tasks.py").returncode == 0
    process, killer = start("worker.py")
    try:
        # Ctrl-C while it does the first job (before its ack).
        assert "resizing" in read_until(process, "resizing")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        killer.cancel()
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "Done" not in out
    # The job it had not acked is back in the queue with the two it never got.
    assert wait_for_count("tasks", 3) == 3


def publish_job(job_id, duration):
    connection, channel = open_channel()
    try:
        channel.queue_declare(queue="tasks.failed", durable=True)
        channel.queue_declare(queue="tasks", durable=True)
        job = {"job_id": job_id, "operation": "generate-report", "payload": {"report": job_id}, "duration": duration}
        channel.basic_publish("", "tasks", json.dumps(job), pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def test_the_resilient_worker_keeps_its_connection_through_a_job_longer_than_its_heartbeat():
    publish_job("long-report", duration=4)  # four 1 s heartbeats
    result = run("resilient_worker.py", "--heartbeat", "1", "--idle-timeout", "1", timeout=20)
    assert result.returncode == 0, result.stderr
    assert lines_with(result.stdout, "Done generate-report") and not lines_with(result.stdout, "Connection lost")
    assert wait_for_count("tasks", 0) == 0 and message_count("tasks.failed") == 0


def test_the_resilient_worker_connects_again_after_its_connection_is_cut_and_does_every_job():
    from helpers.management import management_api

    assert run("enqueue_tasks.py").returncode == 0
    process, killer = start("resilient_worker.py", "--idle-timeout", "2")
    try:
        first = read_until(process, "Done")  # the first job is done: now the broker cuts the connection
        management_api().close_connection("resilient-worker", reason="Closed by a test")
        out, err = process.communicate(timeout=15)
    finally:
        killer.cancel()
        process.kill()
    out = first + out
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert lines_with(out, "Connection lost (ConnectionClosedByBroker)") and lines_with(out, "Connected again")
    assert {job for job in JOBS if lines_with(out, f"Done {job}")} == set(JOBS)
    assert message_count("tasks") == 0 and message_count("tasks.failed") == 0
