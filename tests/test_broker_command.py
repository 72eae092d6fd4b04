"""The broker command, against the broker that `make test` started."""

import os
import socketserver
import subprocess
import sys
import threading

import pytest
from silent_server import SilentServer

from helpers import config
from helpers.ops import broker
from helpers.amqp import connect
from helpers.config import read_dotenv, settings
from helpers.errors import CourseError
from helpers.waiting import wait_until


def run_command(*args, env=None):
    return subprocess.run([sys.executable, "-m", "helpers.ops.broker", *args], capture_output=True, text=True, timeout=60, env=env)


def test_status_names_the_backend_and_how_to_log_in():
    result = run_command("status")
    assert result.returncode == 0, result.stderr
    assert "Running: RabbitMQ" in result.stdout and "backend" in result.stdout
    assert "devuser" in result.stdout and str(settings().management_port) in result.stdout


def test_up_on_a_running_broker_is_quick_and_harmless():
    result = run_command("up")
    assert result.returncode == 0, result.stderr
    assert "is ready" in result.stdout


def test_a_port_in_use_is_named_in_one_sentence():
    # The running broker holds the AMQP port, so a second start must refuse, saying why.
    with pytest.raises(CourseError, match=r"Port \d+ \(AMQP\) is in use by another program"):
        broker.check_ports_free()


def test_a_node_waits_for_ports_a_stopping_node_is_freeing():
    # A node stopping (the previous test's cluster, a lesson whose kernel just ended) frees its
    # ports within seconds: a node started then waits, and names the port only if it stays taken.
    for port in range(31000, 32000, 7):  # below the ephemeral range, so port + 20000 is a port too
        others = broker.settings_on_ports(port, port + 1, port + 2)
        if not any(broker.port_is_open("127.0.0.1", p, timeout=0.5) for p in broker.local_ports(others).values()):
            break
    holder = socketserver.TCPServer(("127.0.0.1", port), socketserver.BaseRequestHandler)
    with pytest.raises(CourseError, match=rf"Port {port} \(AMQP\) is in use by another program, so node x cannot "
                                          r"start\. Stop it\.$"):
        broker.check_ports_free(others, wait=0.5, who="node x", advice="Stop it.")
    threading.Timer(1.0, holder.server_close).start()
    broker.check_ports_free(others, wait=20)  # returns once the port is free


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
    with pytest.raises(CourseError, match="No Docker engine and no RabbitMQ package here. Install it, then run the command again: "):
        broker.install_server_package()


def test_docker_missing_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert broker.docker_engine_runs() == (False, "Docker is not installed")


def test_settings_come_from_the_environment_and_dotenv(monkeypatch, tmp_path):
    """The environment wins over .env, and .env over the defaults (the project's own .env, a
    learner's, plays no part: the test reads one of its own)."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("# course settings\nRABBITMQ_USER=alice\nRABBITMQ_PASSWORD='s3cret'\n\n")
    assert read_dotenv(dotenv) == {"RABBITMQ_USER": "alice", "RABBITMQ_PASSWORD": "s3cret"}
    monkeypatch.setattr(config, "DOTENV_FILE", dotenv)
    for name in ("AMQP_URL", "RABBITMQ_USER", "RABBITMQ_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert settings().amqp_url == "amqp://alice:s3cret@localhost:5672/"
    monkeypatch.setenv("RABBITMQ_USER", "bob")
    monkeypatch.setenv("RABBITMQ_PASSWORD", "p@ss/word")
    current = settings()
    assert current.amqp_url == "amqp://bob:p%40ss%2Fword@localhost:5672/"
    assert (current.user, current.password, current.vhost) == ("bob", "p@ss/word", "/")
    monkeypatch.setenv("AMQP_URL", "amqp://carol:pw@broker.example:5673/shop")
    current = settings()
    assert (current.user, current.amqp_host, current.amqp_port, current.vhost) == ("carol", "broker.example", 5673, "shop")


def with_password(password):
    """The environment with another RABBITMQ_PASSWORD (and AMQP_URL, where it is set, to match)."""
    environment = dict(os.environ, RABBITMQ_PASSWORD=password)
    if "AMQP_URL" in environment:
        environment["AMQP_URL"] = settings().amqp_url.replace(f":{settings().password}@", f":{password}@")
    return environment


def test_a_refused_login_is_said_and_never_written_into_the_broker():
    if broker.choose_backend()[0].name != "local":
        pytest.skip("needs the course's local node (the backend CI runs)")
    result = run_command("up", env=with_password("devpasword"))  # a typo in .env
    assert result.returncode == 1
    assert "refuses user 'devuser'" in result.stderr
    # It names the setting that holds the typo, and never offers to store the typo in the broker.
    assert "AMQP_URL (set in the environment)" in result.stderr and "set-credentials" not in result.stderr
    assert "devpasword" not in result.stderr
    assert result.stderr.count("\n") == 1
    with connect(name="pytest-after-typo"):
        pass  # the course's password still works: nothing was rewritten


def test_set_credentials_changes_the_password_only_when_asked():
    if broker.choose_backend()[0].name != "local":
        pytest.skip("needs the course's local node (the backend CI runs)")
    try:
        result = run_command("set-credentials", env=with_password("changed-password"))
        assert result.returncode == 0, result.stderr
        assert "User 'devuser' now logs in with the password from your settings." in result.stdout
        url = settings().amqp_url.replace(":devpassword@", ":changed-password@")
        with connect(url=url, name="pytest-changed"):
            pass
    finally:
        restored = run_command("set-credentials")
    assert restored.returncode == 0, restored.stderr
    with connect(name="pytest-restored"):
        pass


class AnswersHttp(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(64)
        self.request.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")


@pytest.fixture
def http_server():
    server = socketserver.TCPServer(("127.0.0.1", 0), AnswersHttp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_port_held_by_a_program_that_is_not_rabbitmq_is_said_so(monkeypatch, http_server):
    monkeypatch.delenv("BROKER_BACKEND", raising=False)
    monkeypatch.setenv("BROKER_STATE_DIR", "/nonexistent-course-node")  # no local node of the course's is running there
    monkeypatch.setenv("AMQP_URL", f"amqp://devuser:devpassword@localhost:{http_server}/")
    with pytest.raises(CourseError, match=rf"Port {http_server} on localhost is held by a program that is not RabbitMQ "
                                          r"\(it answered 'HTTP/1.0 400 Bad Request'\)"):
        broker.choose_backend()


def test_a_silent_program_on_the_port_is_not_taken_for_rabbitmq(monkeypatch):
    with SilentServer() as silent:
        assert broker.speaks_amqp("127.0.0.1", silent.port, timeout=0.5) == (False, "it did not answer the AMQP greeting")
    current = settings()
    assert broker.speaks_amqp(current.amqp_host, current.amqp_port) == (True, "")


def test_settings_in_dotenv_reach_the_broker_command(monkeypatch, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"BROKER_BACKEND=local\nBROKER_STATE_DIR={tmp_path / 'node'}\n")
    monkeypatch.delenv("BROKER_BACKEND", raising=False)
    monkeypatch.delenv("BROKER_STATE_DIR", raising=False)
    monkeypatch.setattr(config, "DOTENV_FILE", dotenv)
    backend, why = broker.choose_backend()
    assert (backend.name, why) == ("local", "BROKER_BACKEND=local")
    assert backend.state == (tmp_path / "node").resolve()


def test_the_broker_opens_to_the_network_only_when_asked_and_never_with_the_default_password(monkeypatch):
    monkeypatch.delenv("BROKER_LISTEN", raising=False)
    assert broker.check_listen_address() is None   # this machine only: nothing to warn about
    monkeypatch.setenv("BROKER_LISTEN", "0.0.0.0")
    monkeypatch.setenv("AMQP_URL", "amqp://devuser:devpassword@localhost:5672/")
    with pytest.raises(CourseError, match="Set RABBITMQ_PASSWORD"):
        broker.check_listen_address()
    monkeypatch.setenv("AMQP_URL", "amqp://devuser:a-password-of-its-own@localhost:5672/")
    monkeypatch.setenv("MANAGEMENT_URL", "http://localhost:15672")
    warning = broker.check_listen_address()
    assert "listens on 0.0.0.0" in warning and "5672" in warning and "15672" in warning


def test_the_local_node_listens_where_broker_listen_says(monkeypatch, tmp_path):
    for listen, expected in ((None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")):
        if listen is None:
            monkeypatch.delenv("BROKER_LISTEN", raising=False)
        else:
            monkeypatch.setenv("BROKER_LISTEN", listen)
        node = broker.LocalNode(state=tmp_path / "node")
        node.environment()
        written = (tmp_path / "node" / "conf.d" / "90-local-node.conf").read_text()
        assert f"listeners.tcp.1 = {expected}:" in written
        assert f"management.tcp.ip = {expected}\n" in written and f"prometheus.tcp.ip = {expected}\n" in written


@pytest.fixture
def second_node(monkeypatch, tmp_path):
    """The settings of a node of this test's own (ports 2300 above the test worker's node), stopped after."""
    current = settings()
    ports = [current.amqp_port + 2300, current.management_port + 2300, current.prometheus_port + 2300]

    def use(user, password, listen=None):
        monkeypatch.setenv("BROKER_BACKEND", "local")
        monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path / "node"))
        monkeypatch.setenv("AMQP_URL", f"amqp://{user}:{password}@localhost:{ports[0]}/")
        monkeypatch.setenv("MANAGEMENT_URL", f"http://localhost:{ports[1]}")
        monkeypatch.setenv("PROMETHEUS_URL", f"http://localhost:{ports[2]}")
        if listen:
            monkeypatch.setenv("BROKER_LISTEN", listen)
        else:
            monkeypatch.delenv("BROKER_LISTEN", raising=False)
        return broker.LocalNode()

    yield use
    broker.LocalNode(current=broker.settings_on_ports(*ports), state=tmp_path / "node").down()


def test_a_broker_that_keeps_the_default_password_is_never_left_open_to_the_network(second_node, capsys):
    second_node("devuser", "devpassword")
    broker.up()   # made on this machine only, with the course's default password
    node = second_node("devuser", "a-room-password", listen="0.0.0.0")   # a new password in .env, no reset
    with pytest.raises(CourseError, match="so it was stopped rather than left open on 0.0.0.0"):
        broker.restart()
    assert not node.is_running()
    with pytest.raises(CourseError, match="so it was stopped rather than left open on 0.0.0.0"):
        broker.up()
    assert not node.is_running()
    broker.reset()   # made anew with the password in the settings: open, and said so
    assert node.is_running() and not broker.default_login_works()
    said = capsys.readouterr().out
    assert "Warning: the broker listens on 0.0.0.0" in said and "a-room-password" not in said   # not on the projector
    assert broker.listening_on() == {"0.0.0.0"}


def test_a_running_broker_is_said_to_listen_where_it_does_not_where_the_settings_now_say(second_node, capsys):
    second_node("devuser", "a-room-password")
    broker.up()
    second_node("devuser", "a-room-password", listen="0.0.0.0")
    broker.up()   # the node already runs, on this machine only
    said = capsys.readouterr().out
    assert "listens on 127.0.0.1 only, not 0.0.0.0" in said and "Warning" not in said


def test_a_node_shut_down_and_started_up_again_still_stops_with_its_owner(second_node):
    node = second_node("devuser", "devpassword")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        broker.up(owner=owner.pid)   # e.g. make lab's shell
        broker.shut_down()           # lesson 11's drill
        broker.start_up()
        assert node.owner() == owner.pid
    finally:
        owner.kill()
        owner.wait()
    wait_until(lambda: not node.is_running(), "the node to stop with its owner", timeout=45)


def test_a_remote_broker_that_does_not_answer_is_not_called_a_port_held_by_another_program(monkeypatch, tmp_path):
    monkeypatch.delenv("BROKER_BACKEND", raising=False)
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path / "no-node"))   # no local node of the course runs
    monkeypatch.setenv("AMQP_URL", "amqp://someone:secret@127.0.0.2:5999/room")   # not this machine's name, no one there
    with pytest.raises(CourseError, match=r"^Nothing answers at 127.0.0.2:5999 \(AMQP_URL, set in the environment\)"):
        broker.choose_backend()
