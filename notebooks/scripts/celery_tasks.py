"""The guide's three jobs as Celery tasks, on the course's broker (lesson 15).

A worker, from the notebooks/ folder (lesson 15 starts and stops its own):

    celery -A scripts.celery_tasks worker --hostname worker-1@course --concurrency 1

and a job, from Python:

    from scripts.celery_tasks import resize_image
    resize_image.delay("photos/cat.jpg", "800x600").get(timeout=10)

Each task sleeps for its job's duration (the guide's, scaled down to tenths of a second, like
the course's own worker) and returns a record of who did it and when, so a lesson can draw a
timeline from the results.
"""

import json
import os
import time

from celery import Celery

from helpers.config import settings

# The broker is the course's (the same settings as every lesson: the environment, then .env, then
# devuser / devpassword on localhost); results come back over AMQP too, through the rpc:// backend.
app = Celery("course", broker=settings().amqp_url, backend="rpc://")
app.conf.update(
    broker_connection_retry_on_startup=True,   # keep Celery 6's behaviour quiet now
    result_expires=300,                        # results nobody fetches are not kept for a day
    task_serializer="json",
)
# A worker started by a lesson may be given settings of the lesson's choosing (lesson 15 compares
# Celery's defaults with the settings that make it reliable): a JSON object in this variable.
app.conf.update(json.loads(os.environ.get("COURSE_CELERY_SETTINGS") or "{}"))


def record(task, started, **what):
    """What a task returns: the job, the worker node and process that did it, and when."""
    return {"task": task.name, "worker": task.request.hostname, "pid": os.getpid(),
            "started": started, "ended": time.time(), **what}


@app.task(bind=True, name="resize-image")
def resize_image(self, image, size, seconds=0.3):
    started = time.time()
    time.sleep(seconds)
    return record(self, started, image=image, size=size)


@app.task(bind=True, name="send-email")
def send_email(self, to, subject, seconds=0.2):
    started = time.time()
    time.sleep(seconds)
    return record(self, started, to=to, subject=subject)


@app.task(bind=True, name="generate-report")
def generate_report(self, report, seconds=0.4):
    started = time.time()
    time.sleep(seconds)
    return record(self, started, report=report)


class GatewayDown(Exception):
    """The payment gateway did not answer: worth trying again later."""


# A job that fails for a while: Celery retries it, waiting 1 s, then 2 s (a backoff that doubles),
# at most 2 times. It is acknowledged after the work (acks_late); once its retries are spent, its
# message is rejected rather than acknowledged (acks_on_failure_or_timeout=False), and the broker
# dead-letters it if the queue has a dead-letter route (lesson 15 sets one with a policy).
@app.task(bind=True, name="charge-card", autoretry_for=(GatewayDown,), max_retries=2,
          retry_backoff=True, retry_jitter=False, acks_late=True, acks_on_failure_or_timeout=False)
def charge_card(self, order, gateway_down_for):
    started = time.time()
    if self.request.retries < gateway_down_for:
        raise GatewayDown(f"attempt {self.request.retries + 1} of order {order}: no answer")
    return record(self, started, order=order, attempts=self.request.retries + 1)
