import pytest

from helpers.amqp import connect


@pytest.fixture
def channel():
    """A channel of its own for the exercise tests, closed after the test."""
    with connect(name="pytest-exercises") as connection:
        yield connection.channel()
