"""Shared fixtures: every test runs against the real broker that `make test` started."""

import uuid

import pytest

from helpers.amqp import connect
from helpers.management import management_api


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
