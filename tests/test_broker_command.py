"""The broker command, against the broker that `make test` started."""

import subprocess
import sys

import pytest

from helpers import broker
from helpers.config import read_dotenv, settings
from helpers.errors import CourseError


def run_command(*args, env=None):
    return subprocess.run([sys.executable, "-m", "helpers.broker", *args], capture_output=True, text=True, timeout=60, env=env)


def test_status_names_the_backend_and_how_to_log_in():
    result = run_command("status")
    assert result.returncode == 0, result.stderr
    assert "Running: RabbitMQ" in result.stdout and "backend" in result.stdout
    assert "devuser" in result.stdout and "15672" in result.stdout


def test_up_on_a_running_broker_is_quick_and_harmless():
    result = run_command("up")
    assert result.returncode == 0, result.stderr
    assert "is ready" in result.stdout


def test_a_port_in_use_is_named_in_one_sentence():
    # The running broker holds the AMQP port, so a second start must refuse, saying why.
    with pytest.raises(CourseError, match=r"Port \d+ \(AMQP\) is in use by another program"):
        broker.check_ports_free()


def test_an_unknown_backend_is_refused(monkeypatch):
    monkeypatch.setenv("BROKER_BACKEND", "kubernetes")
    with pytest.raises(CourseError, match="BROKER_BACKEND=kubernetes is not one of: existing, docker, local"):
        broker.choose_backend()


def test_a_broker_the_course_did_not_start_is_not_restarted(monkeypatch):
    monkeypatch.setenv("BROKER_BACKEND", "existing")
    result = run_command("restart")  # the child inherits BROKER_BACKEND from this process
    assert result.returncode == 1
    assert result.stderr.startswith("error: The broker at") and "was not started by the course" in result.stderr
    assert result.stderr.count("\n") == 1


def test_without_docker_or_a_package_the_install_command_is_printed(monkeypatch, tmp_path):
    monkeypatch.setattr(broker, "SERVER_SCRIPTS", [])
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no rabbitmq-server, no docker
    with pytest.raises(CourseError, match="No Docker engine and no RabbitMQ package here. Install one"):
        broker.install_server_package()


def test_docker_missing_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert broker.docker_engine_runs() == (False, "Docker is not installed")


def test_settings_come_from_the_environment_and_dotenv(monkeypatch, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# course settings\nRABBITMQ_USER=alice\nRABBITMQ_PASSWORD='s3cret'\n\n")
    assert read_dotenv(dotenv) == {"RABBITMQ_USER": "alice", "RABBITMQ_PASSWORD": "s3cret"}
    monkeypatch.delenv("AMQP_URL", raising=False)
    monkeypatch.setenv("RABBITMQ_USER", "bob")
    monkeypatch.setenv("RABBITMQ_PASSWORD", "p@ss/word")
    current = settings()
    assert current.amqp_url == "amqp://bob:p%40ss%2Fword@localhost:5672/"
    assert (current.user, current.password, current.vhost) == ("bob", "p@ss/word", "/")
    monkeypatch.setenv("AMQP_URL", "amqp://carol:pw@broker.example:5673/shop")
    current = settings()
    assert (current.user, current.amqp_host, current.amqp_port, current.vhost) == ("carol", "broker.example", 5673, "shop")


def test_changed_credentials_are_applied_to_a_broker_the_course_started(monkeypatch):
    import os

    if broker.choose_backend()[0].name != "local":
        pytest.skip("needs the course's local node (the backend CI runs)")
    changed = dict(os.environ, RABBITMQ_PASSWORD="changed-password")
    changed.pop("AMQP_URL", None)
    try:
        result = run_command("up", env=changed)
        assert result.returncode == 0, result.stderr
        assert "setting user 'devuser' to RABBITMQ_USER / RABBITMQ_PASSWORD" in result.stdout
    finally:
        restored = run_command("up")
    assert restored.returncode == 0, restored.stderr
    assert "setting user 'devuser'" in restored.stdout  # and back to the course's password
