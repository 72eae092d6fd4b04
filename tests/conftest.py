"""Shared fixtures: every test runs against a real broker.

Run serially (``pytest``), the tests use the broker the settings point at (``make test`` starts
it). Run in parallel (``make test`` runs ``pytest -n N``), each test worker starts a RabbitMQ node
of its own on ports of its own, so a test that restarts its broker disturbs nobody, and sets the
settings for everything it starts (notebook kernels, worker processes) to that node: a
learner's ``.env`` with other ports or credentials does not reach the tests. ``--dist loadfile``
keeps a notebook's cells, and a test file's tests, together on one worker, in order.
"""

import os
import uuid

import pytest

from helpers.amqp import connect
from helpers.management import management_api
from helpers.config import PROJECT_DIR

TEST_NODES = PROJECT_DIR / ".broker-tests"
# Worker N's node: AMQP 5750+N, management 15750+N, Prometheus endpoint 15780+N (clustering
# 25750+N), and the course's own Prometheus server on 9150+N.
BASE_PORTS = {"amqp": 5750, "management": 15750, "prometheus": 15780, "prometheus_server": 9150}


def node_settings(number):
    """The settings of test worker ``number``'s own node, as environment variables."""
    ports = {name: base + number for name, base in BASE_PORTS.items()}
    return {
        "BROKER_BACKEND": "local",
        "BROKER_STATE_DIR": str(TEST_NODES / f"node-{number}"),
        "RABBITMQ_USER": "devuser",
        "RABBITMQ_PASSWORD": "devpassword",
        "AMQP_URL": f"amqp://devuser:devpassword@localhost:{ports['amqp']}/",
        "MANAGEMENT_URL": f"http://localhost:{ports['management']}",
        "PROMETHEUS_URL": f"http://localhost:{ports['prometheus']}",
        "PROMETHEUS_SERVER_URL": f"http://127.0.0.1:{ports['prometheus_server']}",
        "PROMETHEUS_STATE_DIR": str(TEST_NODES / f"prometheus-{number}"),
    }


def xdist_worker_number():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else None


def pytest_configure(config):
    number = xdist_worker_number()
    if number is None:
        return
    os.environ.update(node_settings(number))
    from helpers import broker

    broker.up()


def pytest_unconfigure(config):
    if xdist_worker_number() is None:
        return
    from helpers import broker, prometheus

    for stop in (prometheus.PrometheusServer().down, broker.down):
        try:
            stop()
        except Exception as error:  # noqa: BLE001 - stopping is best effort; say what failed
            print(f"could not stop the test worker's broker or Prometheus: {error}")


@pytest.fixture
def channel():
    """An open channel on the course's broker, closed after the test."""
    with connect(name="pytest") as connection:
        yield connection.channel()


@pytest.fixture
def api():
    return management_api()


@pytest.fixture
def queue_name(channel):
    """A fresh queue name for one test; the queue is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    with connect(name="pytest-cleanup") as connection:
        connection.channel().queue_delete(name)
