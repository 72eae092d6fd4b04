"""Start, stop, restart and reset the course's broker, wherever the learner is.

    python -m helpers.ops.broker up | down | status | restart | reset | set-credentials

Three backends, chosen in this order (``BROKER_BACKEND=docker|local|existing`` forces one):

* **existing** - a broker already answers at AMQP_URL: it is used as it is.
* **docker** - a Docker engine runs: ``docker/compose.yaml`` (the official image).
* **local** - otherwise: a RabbitMQ node from the system's ``rabbitmq-server`` package, run as
  the current user with the course's configuration (``docker/rabbitmq.conf`` and
  ``docker/enabled_plugins``, the same files Docker mounts), its state in ``.broker/`` inside
  the project, listening on 127.0.0.1 only. The package is installed where that can be done
  (apt as root or with non-interactive sudo); elsewhere the exact command is printed.

This is the only module that knows how the broker was started. Lessons call ``restart()`` to
show what survives a restart (lesson 06), and ``shut_down()``/``start_up()``,
``changed_settings()``, ``memory_alarm()`` and ``log_lines()`` to stop, change or read the
running broker for a while (lesson 11); the rest of ``helpers`` only knows URLs from ``config``.

Introduced in lesson 00 (``restart`` in lesson 06, the others in lesson 11).
"""

import argparse
import os
import shutil
import socket
import subprocess
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from urllib.parse import quote

from ..config import (DEFAULT_PASSWORD, DEFAULT_USER, LOOPBACK, PROJECT_DIR, Settings, broker_listen, env, login_source,
                      on_own_node, settings, where_set)
from . import system_packages
from ..errors import CourseError
from ..waiting import poll, wait_until
from .processes import is_alive, running_pid, stop, stop_with_owner
from .system_packages import run

DOCKER_DIR = PROJECT_DIR / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
CONFIG_FILE = DOCKER_DIR / "rabbitmq.conf"
PLUGINS_FILE = DOCKER_DIR / "enabled_plugins"
READY_TIMEOUT = 120.0

# Where a system's package puts the scripts that run as the caller (on Debian, /usr/sbin's
# wrappers switch to the rabbitmq user instead, so they are not used).
SERVER_SCRIPTS = [
    "/usr/lib/rabbitmq/bin/rabbitmq-server",
    "/opt/homebrew/sbin/rabbitmq-server",
    "/usr/local/sbin/rabbitmq-server",
]


def say(message):
    print(message, flush=True)


def port_is_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_ready(is_alive=lambda: True, timeout=READY_TIMEOUT, on_death=None, current=None):
    """Wait, with a limit, until the broker takes an AMQP login and its management API answers
    (the broker of ``current``, a Settings; the course's by default)."""
    from ..amqp import connect
    from ..management import management_api

    current = current or settings()
    last_error = []

    def ready():
        if not is_alive():
            raise CourseError(on_death() if on_death else "The broker stopped while starting.")
        try:
            with connect(current.amqp_url, timeout=3):
                pass
            management_api(timeout=3, current=current).overview()
            return True
        except CourseError as error:
            if "refused the login" in str(error):
                raise
            last_error[:] = [error]
            return False

    wait_until(ready, "the broker to take an AMQP login and answer on its management API", timeout=timeout,
               interval=0.1, seen=lambda: last_error[0] if last_error else "no answer yet")


def ready_with_course_user(ctl, current=None, **wait):
    """Wait until ready, then put the course's policies on its vhost. A refused login is said as it
    is: the broker keeps the user it was first started with, and a typo in .env must not be written
    into it; ``set-credentials`` does that when the learner asks for it."""
    current = current or settings()
    try:
        wait_until_ready(current=current, **wait)
    except CourseError as error:
        if "refused the login" not in str(error):
            raise
        raise CourseError(
            f"The broker is running but refuses user '{current.user}' with the password from {login_source()}: "
            "check that setting for a typo."
        ) from None
    set_course_policies(current)


# The course's policies, set on its vhost each time the course starts its broker. Dead-lettering
# for the work queue comes from a policy, not from queue arguments: every program declares 'tasks'
# the same plain way (queue_declare("tasks", durable=True), as the guide's scripts do), a job that
# the worker rejects still goes to 'tasks.failed', and the setting can change without deleting the
# queue (RabbitMQ's documentation recommends policies over x- arguments for this; lesson 09).
COURSE_POLICIES = {
    "tasks-dead-letters": {
        "pattern": "^tasks$",
        "apply-to": "queues",
        "definition": {"dead-letter-exchange": "", "dead-letter-routing-key": "tasks.failed"},
        "priority": 0,
    },
}


def set_course_policies(current=None):
    """Put the course's policies on its vhost (again: a reset broker has none)."""
    from ..management import management_api

    api = management_api(current=current)
    for name, policy in COURSE_POLICIES.items():
        api.put(api.vhost_path("policies", name), policy)


def set_course_user(ctl):
    """Create or update the course's user from the settings, as an administrator of its vhost."""
    current = settings()
    if ctl("add_user", current.user, current.password, check=False).returncode != 0:
        ctl("change_password", current.user, current.password)
    ctl("set_user_tags", current.user, "administrator")
    ctl("set_permissions", "-p", current.vhost, current.user, ".*", ".*", ".*")
    wait_until_ready()


def speaks_amqp(host, port, timeout=2.0):
    """(True, "") if whoever listens at host:port answers the AMQP 0-9-1 greeting as a broker does;
    else (False, what it did instead), so a port held by another program is not taken for RabbitMQ."""
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:   # refused, unreachable, or no answer in time: nothing reached there
        return False, f"the connection failed ({error.strerror or error or 'timed out'})"
    try:
        with connection:
            connection.settimeout(timeout)
            connection.sendall(b"AMQP\x00\x00\x09\x01")
            answer = connection.recv(64)
    except socket.timeout:
        return False, "it did not answer the AMQP greeting"
    except OSError as error:
        return False, f"the connection failed ({error.strerror or error})"
    if answer[:3] == b"\x01\x00\x00" or answer.startswith(b"AMQP"):  # connection.start, or its own protocol header
        return True, ""
    shown = answer[:40].decode("ascii", errors="replace").splitlines()[0] if answer else ""
    return False, f"it answered {shown!r}" if shown else "it closed the connection without a word"


# -- backend: a broker that is already running ------------------------------------------------
class ExistingBroker:
    name = "existing"

    def up(self, owner=None):
        wait_until_ready(timeout=10)

    def is_running(self):
        current = settings()
        return port_is_open(current.amqp_host, current.amqp_port)

    def _not_ours(self, action):
        raise CourseError(
            f"The broker at {settings().amqp_host}:{settings().amqp_port} was not started by the course, "
            f"so it cannot {action} it: do that the way it was started."
        )

    def down(self):
        self._not_ours("stop")

    def restart(self):
        self._not_ours("restart")

    def reset(self):
        self._not_ours("reset")


# -- backend: Docker -------------------------------------------------------------------------
def docker_engine_runs():
    """(True, why) if a Docker engine and Compose answer; else (False, why not)."""
    if not shutil.which("docker"):
        return False, "Docker is not installed"
    try:
        if subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode != 0:
            return False, "Docker is installed but its engine is not running (docker info failed)"
        if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10).returncode != 0:
            return False, "Docker runs but the Compose plugin is missing (docker compose version failed)"
    except subprocess.TimeoutExpired:
        return False, "Docker did not answer within 10 s"
    return True, "a Docker engine is running"


class DockerBroker:
    name = "docker"

    def compose(self, *args, timeout=300, check=True):
        command = ["docker", "compose", "--project-directory", str(DOCKER_DIR), "-f", str(COMPOSE_FILE)]
        env_file = PROJECT_DIR / ".env"
        if env_file.is_file():
            command += ["--env-file", str(env_file)]
        return run(command + list(args), timeout=timeout, check=check)

    def ctl(self, *args, check=True):
        return self.compose("exec", "-T", "rabbitmq", "rabbitmqctl", *args, timeout=60, check=check)

    def is_running(self):
        result = self.compose("ps", "--status", "running", "--quiet", "rabbitmq")
        return bool(result.stdout.strip())

    def up(self, owner=None):
        check_ports_free()
        self.compose("up", "-d", "--wait", "rabbitmq")
        ready_with_course_user(self.ctl)

    def down(self):
        self.compose("down")

    def restart(self):
        self.compose("restart", "rabbitmq")
        wait_until_ready()

    def reset(self):
        self.compose("down", "--volumes")
        self.up()


# -- backend: a local node from the system's package -----------------------------------------
def find_server_script():
    for candidate in SERVER_SCRIPTS:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which("rabbitmq-server")
    if found and not found.startswith(("/usr/sbin", "/sbin")):
        return Path(found)
    return None


def install_command():
    """The command that installs RabbitMQ on this system, as a learner would type it."""
    return system_packages.install_command(apt="rabbitmq-server", brew="rabbitmq", dnf="rabbitmq-server")


def install_server_package():
    """The package's rabbitmq-server script, installing Debian's package first where it is missing
    and that can be done without asking; else a CourseError with the command to run."""
    return system_packages.ensure_package(find_server_script, "rabbitmq-server", service="rabbitmq-server",
                                          what="No Docker engine and no RabbitMQ package here.", brew="rabbitmq")


def local_ports(current=None):
    """The ports the broker listens on, from the settings (the clustering port is AMQP's + 20000)."""
    current = current or settings()
    return {"AMQP": current.amqp_port, "management UI/API": current.management_port,
            "Prometheus": current.prometheus_port, "clustering": current.amqp_port + 20000}


def check_ports_free(current=None, more_ports=None, wait=0.0, who="the broker", advice=None):
    """Refuse, naming the port, when a port the node needs is taken. With ``wait``, first give a
    node that is stopping (a test's or a lesson's, whose owner just ended) that long to free them."""
    ports = {**(more_ports or {}), **local_ports(current)}

    def taken():
        return [(what, port) for what, port in ports.items() if port_is_open("127.0.0.1", port, timeout=0.5)]

    if poll(lambda: not taken(), wait, interval=0.2):
        return
    for what, port in taken()[:1]:
        advice = advice or f"See which with: ss -ltnp 'sport = :{port}'  (macOS: lsof -i :{port}); stop it and try again."
        raise CourseError(f"Port {port} ({what}) is in use by another program, so {who} cannot start. {advice}")


def state_beside(suffix):
    """The state folder of a node of a lesson's own, beside the course's node's (``.broker`` +
    ``suffix``, e.g. ``.broker-tls``; a test worker's node-N gets node-N-tls)."""
    course = Path(env("BROKER_STATE_DIR") or PROJECT_DIR / ".broker").resolve()
    return course.with_name(course.name + suffix)


def settings_on_ports(amqp, management, prometheus):
    """The course's login on other ports: the settings of a node of a lesson's own, passed to it
    (the process's own settings stay as they are, so no other thread is pointed there)."""
    course = settings()
    login = f"{quote(course.user, safe='')}:{quote(course.password, safe='')}"
    return Settings(amqp_url=f"amqp://{login}@localhost:{amqp}/", management_url=f"http://localhost:{management}",
                    prometheus_url=f"http://localhost:{prometheus}", user=course.user, password=course.password)


class LocalNode:
    """A node run from the package's scripts. Its state is in ``.broker/`` (or BROKER_STATE_DIR);
    its ports come from the settings, so a second node can run beside the first on other ports.
    A node of a lesson's own (lesson 12's TLS node) passes its own ``current`` settings, ``state``
    folder and ``plugins_file``: nothing is read from, or written to, the process's environment."""

    name = "local"

    def __init__(self, current=None, state=None, plugins_file=None):
        self.current = current or settings()
        self.state = Path(state).resolve() if state else state_beside("")
        self.plugins_file = Path(plugins_file or PLUGINS_FILE)
        self.pid_file = self.state / "rabbit.pid"
        self.owner_file = self.state / "owner.pid"
        self.log_file = self.state / "log" / "console.log"
        amqp_port = self.current.amqp_port
        self.node_name = "course@localhost" if amqp_port == 5672 else f"course-{amqp_port}@localhost"

    def environment(self):
        """The variables that point the package's scripts at the course's files and state."""
        ports = local_ports(self.current)
        conf_dir = self.state / "conf.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (self.state / "home").mkdir(exist_ok=True)
        (self.state / "log").mkdir(exist_ok=True)
        (self.state / "rabbitmq-env.conf").touch()
        course_conf = conf_dir / "10-course.conf"
        if not course_conf.is_symlink():
            course_conf.unlink(missing_ok=True)
            course_conf.symlink_to(CONFIG_FILE)
        listen = broker_listen()
        (conf_dir / "90-local-node.conf").write_text(
            "# Written by helpers/ops/broker.py: the local node listens on this machine only, unless\n"
            "# BROKER_LISTEN says otherwise (a workshop's room, docs/WORKSHOP.md).\n"
            f"listeners.tcp.1 = {listen}:{ports['AMQP']}\n"
            f"management.tcp.ip = {listen}\n"
            f"management.tcp.port = {ports['management UI/API']}\n"
            f"prometheus.tcp.ip = {listen}\n"
            f"prometheus.tcp.port = {ports['Prometheus']}\n"
        )
        current = self.current
        return dict(
            os.environ,
            HOME=str(self.state / "home"),  # the Erlang cookie lives here
            RABBITMQ_NODENAME=self.node_name,
            RABBITMQ_CONF_ENV_FILE=str(self.state / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILES=str(conf_dir),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.state / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.plugins_file),
            RABBITMQ_MNESIA_BASE=str(self.state / "data"),
            RABBITMQ_LOG_BASE=str(self.state / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_DEFAULT_USER=current.user,
            RABBITMQ_DEFAULT_PASS=current.password,
            RABBITMQ_DIST_PORT=str(ports["clustering"]),
            ERL_EPMD_ADDRESS="127.0.0.1",
            # No busy-waiting schedulers: a node that idles costs no CPU (several nodes share a laptop).
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none",
        )

    def pid(self):
        """The node's process id, or None if it is not running (a stale pid file is ignored)."""
        return running_pid(self.pid_file, b"beam")

    def is_running(self):
        return self.pid() is not None

    def ports_open(self):
        """The node's ports that still accept a connection (none once its VM has exited)."""
        return [port for port in local_ports(self.current).values() if port_is_open("127.0.0.1", port, timeout=0.5)]

    def ctl(self, *args, timeout=60, check=True):
        script = find_server_script().parent / "rabbitmqctl"
        return run([str(script), *args], timeout=timeout, env=self.environment(), check=check)

    def up(self, owner=None):
        """Start the node (or use the one running). With ``owner`` (a process id), a node this
        call starts is stopped as soon as that process has ended (processes.stop_with_owner)."""
        if self.is_running():
            ready_with_course_user(self.ctl, current=self.current)
            return
        script = install_server_package()
        check_ports_free(self.current)
        env = self.environment()
        self.pid_file.unlink(missing_ok=True)
        # Watched from its first moment: an owner killed while the node boots (a test run
        # interrupted at its start) leaves no node behind. The script waits at a gate (a pipe on
        # its standard input) until its watcher runs: an owner killed before it opens the gate
        # closes the pipe, and the script ends without starting the node (a CI run's owner was
        # killed after the node's VM had started but before its watcher had: the node was left
        # running). The watcher's signals go to the script's process group (it leads a session
        # of its own), so the Erlang VM gets them too, even when a node still booting does not
        # stop in time for SIGTERM.
        gate, opener = os.pipe()
        try:
            with open(self.log_file, "ab") as log:
                process = subprocess.Popen(["/bin/sh", "-c", 'read go && exec "$0" </dev/null', str(script)], env=env,
                                           stdout=log, stderr=subprocess.STDOUT, stdin=gate, cwd=self.state,
                                           start_new_session=True)
        finally:
            os.close(gate)
        try:
            if owner is not None:
                stop_with_owner(owner, process.pid, b"rabbitmq-server", group=True)
                self.owner_file.write_text(str(owner))
            os.write(opener, b"go\n")
        finally:
            os.close(opener)
        ready_with_course_user(self.ctl, current=self.current, is_alive=lambda: process.poll() is None,
                               on_death=self.why_it_stopped)

    def owner(self):
        """The process whose end stops this node (see up), if it still runs; else None."""
        try:
            owner = int(self.owner_file.read_text())
        except (OSError, ValueError):
            return None
        return owner if is_alive(owner) else None

    def why_it_stopped(self):
        lines = self.log_file.read_text(errors="replace").strip().splitlines()[-6:] if self.log_file.exists() else []
        return f"The local RabbitMQ node stopped while starting. Last lines of {self.log_file}: " + " | ".join(lines)

    def down(self):
        pid = self.pid()
        if pid is None:
            return
        # SIGTERM is RabbitMQ's graceful stop ("SIGTERM received - shutting down" in its log),
        # the same as `rabbitmqctl stop` without the second or so that the CLI takes to start.
        # (Before 3.13.2 the management plugin holds every stop for 5 s: rabbitmq-server #11070.)
        stop(pid, self.is_running, timeout=30)
        # The node deletes its pid file a moment before its VM exits and frees its ports; wait
        # for the ports too, so that an up() right after (a restart) finds them free.
        wait_until(lambda: not self.ports_open(), "the node's ports to be free", timeout=15, interval=0.2)

    def restart(self):
        owner = self.owner()  # a restarted node keeps its owner
        self.down()
        self.up(owner=owner)

    def reset(self):
        owner = self.owner()
        self.down()
        shutil.rmtree(self.state / "data", ignore_errors=True)
        self.up(owner=owner)


# -- choosing a backend -----------------------------------------------------------------------
BACKENDS = {"existing": ExistingBroker, "docker": DockerBroker, "local": LocalNode}


def choose_backend():
    """(backend, why): which broker the course uses here, and the reason, in plain words."""
    forced = (env("BROKER_BACKEND") or "").strip().lower()
    if forced:
        if forced not in BACKENDS:
            raise CourseError(f"BROKER_BACKEND={forced} is not one of: {', '.join(BACKENDS)}.")
        return BACKENDS[forced](), f"BROKER_BACKEND={forced}"
    if LocalNode().is_running():
        return LocalNode(), "the course's local node is running"
    docker_ok, docker_why = docker_engine_runs()
    if docker_ok and COMPOSE_FILE.exists() and DockerBroker().is_running():
        return DockerBroker(), "the course's Docker container is running"
    current = settings()
    if current.amqp_host not in ("localhost", "127.0.0.1", "::1") or port_is_open(current.amqp_host, current.amqp_port):
        amqp, what_instead = speaks_amqp(current.amqp_host, current.amqp_port)
        if not amqp and what_instead.startswith("the connection failed"):   # nothing there at all
            raise CourseError(
                f"Nothing answers at {current.amqp_host}:{current.amqp_port} (AMQP_URL, set in {where_set('AMQP_URL') or 'the defaults'}): "
                "the broker there is down or cannot be reached from this machine; check the address, or ask whoever "
                "runs it (in a workshop, the instructor).")
        if not amqp:
            raise CourseError(
                f"Port {current.amqp_port} on {current.amqp_host} is held by a program that is not RabbitMQ ({what_instead}). "
                f"See which with: ss -ltnp 'sport = :{current.amqp_port}'  (macOS: lsof -i :{current.amqp_port}); "
                "stop it, or set AMQP_URL to your broker."
            )
        return ExistingBroker(), f"a broker already answers at {current.amqp_host}:{current.amqp_port}"
    if docker_ok:
        return DockerBroker(), docker_why
    return LocalNode(), f"{docker_why}, so the course runs a local node from the rabbitmq-server package"


def broker_version():
    from ..management import management_api

    overview = management_api(timeout=3).overview()
    return overview.get("rabbitmq_version", "?")


def describe():
    """What is running, for lesson 00: backend and why, version, node, plugins, listeners; for an
    account that may not read the node (a workshop attendee's), the versions and its own vhost,
    after one sentence that says so."""
    from ..management import NODE_WIDE_NOTE, MissingTag, management_api

    backend, why = choose_backend()
    api = management_api(timeout=3)
    overview = api.overview()
    try:
        node = api.node()
    except MissingTag:   # a workshop attendee's account sees its own vhost, not the node
        print(NODE_WIDE_NOTE.format(vhost=api.vhost))
        return {"RabbitMQ version": overview.get("rabbitmq_version", "?"),
                "Erlang version": overview.get("erlang_version", "?"), "your vhost": api.vhost}
    overview = overview_with_listeners(api, overview)
    listeners = ", ".join(f"{item['protocol']} {item['port']}" for item in overview.get("listeners", []))
    return {
        "backend": f"{backend.name} ({why})",
        "RabbitMQ version": overview.get("rabbitmq_version", "?"),
        "Erlang version": overview.get("erlang_version", "?"),
        "node": overview.get("node", "?"),
        "enabled plugins": ", ".join(sorted(node.get("enabled_plugins", []))),
        "listeners": listeners,
    }


def describe_access():
    current = settings()
    # A broker open to the room (a workshop) may have this terminal on the projector: no password then.
    login = f"{current.user} / {current.password}" if broker_listen() in LOOPBACK else f"{current.user}, with the password in .env"
    return (
        f"Management UI: {current.management_url}  (log in as {login})\n"
        f"AMQP:          {current.amqp_host}:{current.amqp_port}   Prometheus: {current.prometheus_url}/metrics"
    )


def check_listen_address():
    """The broker may listen beyond this machine (``BROKER_LISTEN``) only with an administrator
    password of its own: the course's default one is in every copy of the course. Returns the
    warning to print when it is open to the network, else None."""
    listen, current = broker_listen(), settings()
    if listen in LOOPBACK:
        return None
    if current.password == DEFAULT_PASSWORD:
        raise CourseError(f"BROKER_LISTEN={listen} would open the broker to the network while its administrator "
                          f"{current.user} has the course's default password, which every copy of the course shows. Set "
                          "RABBITMQ_PASSWORD in .env first (for a broker that has already started: make reset).")
    return open_warning(listen)


def open_warning(listen):
    """What to say once the broker listens on ``listen``, beyond this machine."""
    ports = local_ports()
    return (f"Warning: the broker listens on {listen}: anyone who can reach this machine can try to log in, on AMQP port "
            f"{ports['AMQP']} and the management UI's port {ports['management UI/API']}, and read every vhost's queue "
            f"depths without a login on the Prometheus port {ports['Prometheus']}. Stop it (make down) when the "
            "workshop ends.")


def up(owner=None):
    """Start the course's broker (or use the one running). ``owner``: a process id whose end stops
    a local node this call starts (a test worker's node; `make lab`'s, with the lab)."""
    check_listen_address()
    backend, why = choose_backend()
    say(f"Broker backend: {backend.name} ({why}).")
    started = time.monotonic()
    open_safely(backend, lambda: backend.up(owner=owner))
    say(f"RabbitMQ {broker_version()} is ready ({time.monotonic() - started:.1f} s).")
    say(describe_access())
    return backend


def default_login_works(current=None):
    """True if the broker takes the course's default password (for the user in the settings, or
    devuser): the password every copy of the course shows."""
    from ..amqp import connect

    current = current or settings()
    for user in dict.fromkeys([current.user, DEFAULT_USER]):
        url = f"amqp://{quote(user, safe='')}:{quote(DEFAULT_PASSWORD, safe='')}@{current.amqp_host}:{current.amqp_port}/"
        try:
            with connect(url, timeout=3):
                return True
        except CourseError:
            continue
    return False


def overview_with_listeners(api, overview=None):
    """The management API's overview (or ``overview``, already read), once it lists the node's
    listeners: for an account that may read the node, which a running node always shows with an
    AMQP listener. RabbitMQ 4.0 lists none for a moment after it starts (seen a second after `up`),
    so the overview is asked again, for up to 15 s; the last one is returned either way."""
    def amqp_listed(overview):
        return any(item.get("protocol") == "amqp" for item in overview.get("listeners", []))

    overview = overview or api.overview()
    stop_at = time.monotonic() + 15
    while not amqp_listed(overview) and time.monotonic() < stop_at:
        time.sleep(0.25)
        overview = api.overview()
    return overview


def listening_on():
    """The addresses the running broker's AMQP listeners are bound to (from its management API)."""
    from ..management import management_api

    listeners = overview_with_listeners(management_api(timeout=3)).get("listeners", [])
    return {item.get("ip_address") for item in listeners if item.get("protocol") == "amqp"}


def open_safely(backend, start):
    """Run ``start()`` (the backend's up, restart or reset). Where BROKER_LISTEN opens the broker
    beyond this machine, it must refuse the course's default password: the settings may hold
    another one while the broker keeps the one it was first made with. If it does not, or if its
    login fails, it is stopped again, never left open. Then say where it listens."""
    listen = broker_listen()
    if listen in LOOPBACK:
        start()
    else:
        try:
            start()
        except CourseError as error:
            backend.down()
            if "refuses user" not in str(error):
                raise
            raise CourseError(
                f"The broker refused the password in your settings ({login_source()}), so it was stopped rather than "
                f"left open on {listen}: a broker keeps the users it was first made with. `make reset` makes it anew "
                "with that password (or correct a typo in it).") from None
        if default_login_works():
            backend.down()
            raise CourseError(
                f"The broker still takes the course's default password ({DEFAULT_PASSWORD}), which every copy of the "
                f"course shows, so it was stopped rather than left open on {listen}: a broker keeps the users it was "
                "first made with. `make reset` makes it anew with the password in .env (RABBITMQ_PASSWORD).")
    bound = listening_on() if backend.name == "local" else set()   # a container's listeners are its own
    if bound and not bound & set(LOOPBACK) and listen in LOOPBACK:
        say(f"Warning: this broker, started before, listens on {', '.join(sorted(bound))}, beyond this machine: "
            "`make down && make broker` closes it to the network again.")
    elif bound and bound <= set(LOOPBACK) and listen not in LOOPBACK:
        say(f"This broker, started before, listens on {', '.join(sorted(bound))} only, not {listen}: "
            "`make down && make broker` opens it to the room.")
    elif listen not in LOOPBACK:
        say(open_warning(listen))


def install():
    """Make sure the rabbitmq-server package is here (the test suite's nodes run from it), without
    starting a node."""
    script = install_server_package()
    say(f"RabbitMQ's package is installed ({script.parent}).")


def down():
    from .cluster import Cluster
    from .tls_node import TLSNode

    TLSNode(certificates=None).stop()  # lesson 12's, if an interrupted lesson left it running
    Cluster().stop()  # lesson 13's three nodes, likewise
    backend, why = choose_backend()
    if backend.name == "existing" and "BROKER_BACKEND" not in why:
        say("No broker started by the course is running.")
        return
    backend.down()
    say(f"Broker stopped ({backend.name}).")


def not_in_a_classroom(action):
    """A workshop's attendee (``COURSE_CLASSROOM`` set) never stops, restarts or reconfigures the
    broker: the whole room shares it. One sentence instead. A lesson moved to a node of the
    attendee's own (own_node.py) operates that node as usual."""
    if env("COURSE_CLASSROOM") and not on_own_node():
        raise CourseError(f"This would {action} the broker, which the whole room shares in this workshop: that is "
                          "the instructor's to show on their screen (docs/WORKSHOP.md). Go on with the next section.")


def restart():
    """Restart the broker for real (lesson 06 shows what survives), and wait until it is ready."""
    not_in_a_classroom("restart")
    backend, _ = choose_backend()
    started = time.monotonic()
    open_safely(backend, backend.restart)
    say(f"Broker restarted ({backend.name}) in {time.monotonic() - started:.1f} s.")


# -- changing the running broker for a while (lesson 11) ----------------------------------------
def _course_backend(action):
    """The backend of a broker the course started; one the course did not start gets a one-line
    refusal instead (``action`` says what was refused: "stop", "change the settings of"...)."""
    if action not in ("read the settings of", "read the log of"):   # every other action changes the broker
        not_in_a_classroom(action)
    backend, _ = choose_backend()
    if backend.name == "existing":
        backend._not_ours(action)
    return backend


def _operator_command(action):
    """``rabbitmqctl`` on the course's broker (run in the container for Docker)."""
    return _course_backend(action).ctl


def started_by_the_course():
    """True if the course started the broker (Docker or a local node), False for one it found running."""
    return choose_backend()[0].name != "existing"


def current_settings(*keys):
    """Settings of the running broker as Erlang prints them (``["1800000"]``), None where unset:
    ``current_settings("loopback_users")`` (lesson 12)."""
    return _settings(_operator_command("read the settings of"), list(keys))


def _settings(ctl, keys):
    """Settings of the running broker as Erlang prints them (``1800000``), None where unset."""
    printed = ctl("eval", f"[application:get_env(rabbit, Key) || Key <- [{', '.join(keys)}]].").stdout
    found = re.findall(r"\{ok,(\{[^{}]*\}|\[[^\[\]]*\]|[^{},\]]*)\}|undefined", "".join(printed.split()))
    return [value or None for value in found]


@contextmanager
def changed_settings(**values):
    """Run a with-block with some of the running broker's settings changed, then put them back.

        with broker.changed_settings(consumer_timeout=3000):   # milliseconds

    does ``rabbitmqctl eval 'application:set_env(rabbit, consumer_timeout, 3000).'``, which is
    what ``consumer_timeout = 3000`` in rabbitmq.conf sets at start. Only for a broker the
    course started: a lesson changes its own broker, never somebody else's."""
    ctl = _operator_command("change the settings of")
    before = dict(zip(values, _settings(ctl, list(values)), strict=True))
    ctl("eval", ", ".join(f"application:set_env(rabbit, {key}, {int(value)})" for key, value in values.items()) + ".")
    try:
        yield
    finally:
        ctl("eval", ", ".join(f"application:unset_env(rabbit, {key})" if value is None else
                              f"application:set_env(rabbit, {key}, {value})" for key, value in before.items()) + ".")


def log_lines(containing):
    """The broker's log lines that contain ``containing``, oldest first, each without its time and
    process id (``missed heartbeats from client, timeout: 1s``): what the broker said about it."""
    backend = _course_backend("read the log of")
    if backend.name == "docker":
        text = backend.compose("logs", "--no-color", "--no-log-prefix", "rabbitmq", timeout=30).stdout
    else:
        log_file = backend.state / "log" / f"{backend.node_name}.log"
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
    lines = [line for line in text.splitlines() if containing in line]
    return [re.sub(r"^\S+ \S+ \[\w+\] <[\d.]+> ", "", line) for line in lines]


def _watermark_argument(printed):
    """``rabbitmqctl set_vm_memory_high_watermark``'s arguments for a watermark as Erlang prints it:
    ``0.4`` or ``{relative,0.4}`` (a fraction of the memory), ``{absolute,1073741824}`` (bytes)."""
    absolute = re.fullmatch(r"\{absolute,\s*(\d+)\}", printed or "")
    if absolute:
        return ["absolute", absolute.group(1)]
    relative = re.fullmatch(r"(?:\{relative,\s*)?([0-9.]+)\}?", printed or "")
    return [relative.group(1) if relative else "0.4"]


@contextmanager
def memory_alarm():
    """Run a with-block with the broker's memory alarm raised, then clear it.

    ``rabbitmqctl set_vm_memory_high_watermark 0.0000001`` puts the limit below what the node
    already uses, so the alarm goes off at once: the broker blocks every connection that
    publishes. At the end the watermark goes back to what it was (rabbitmq.conf's 0.4)."""
    ctl = _operator_command("raise a memory alarm on")
    before = _watermark_argument(_settings(ctl, ["vm_memory_high_watermark"])[0])
    ctl("set_vm_memory_high_watermark", "0.0000001")
    try:
        yield
    finally:
        ctl("set_vm_memory_high_watermark", *before)


def shut_down():
    """Stop the broker and leave it stopped until ``start_up()`` (lesson 11 shows its clients
    retrying meanwhile). A broker the course did not start gets a one-line refusal."""
    backend = _course_backend("stop")
    started = time.monotonic()
    if backend.name == "docker":
        backend.compose("stop", "rabbitmq")  # stopped, not removed: start_up() starts it again
    else:
        backend.down()
    say(f"Broker stopped ({backend.name}) in {time.monotonic() - started:.1f} s.")


def start_up():
    """Start the broker that ``shut_down()`` stopped, and wait until it is ready."""
    backend, _ = choose_backend()
    started = time.monotonic()
    if backend.name == "docker":
        backend.compose("start", "rabbitmq")
        wait_until_ready()
    else:   # a local node keeps its owner (make lab's, a test run's, an attendee's kernel): it still stops with it
        owner = backend.owner() if backend.name == "local" else None
        open_safely(backend, lambda: backend.up(owner=owner))
    say(f"Broker started ({backend.name}) in {time.monotonic() - started:.1f} s.")


def reset():
    """A clean broker for the next group: every queue, exchange and message gone."""
    check_listen_address()
    backend, _ = choose_backend()
    open_safely(backend, backend.reset)
    say(f"Broker reset ({backend.name}): a clean broker with only the course's user.")
    say(describe_access())


def set_credentials():
    """Make the course's broker take RABBITMQ_USER / RABBITMQ_PASSWORD (asked for by the learner)."""
    backend = _course_backend("change the users of")
    current = settings()
    set_course_user(backend.ctl)
    say(f"User '{current.user}' now logs in with the password from your settings.")


def status():
    backend, why = choose_backend()
    if not backend.is_running():
        say(f"Not running. 'python -m helpers.ops.broker up' would use: {backend.name} ({why}).")
        return False
    try:
        version = broker_version()
    except CourseError as error:
        say(f"Backend {backend.name} ({why}), but the broker does not answer: {error}")
        return False
    say(f"Running: RabbitMQ {version}, backend {backend.name} ({why}).")
    say(describe_access())
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.ops.broker", description="The course's RabbitMQ broker.")
    commands = {"up": up, "down": down, "status": status, "restart": restart, "reset": reset,
                "set-credentials": set_credentials, "install": install}
    parser.add_argument("command", choices=list(commands))
    parser.add_argument("--stop-with", type=int, metavar="PID",
                        help="with up: a local node this command starts stops once process PID has ended "
                             "(make lab passes its own shell, so the node ends with the lab)")
    args = parser.parse_args(argv)
    try:
        result = up(owner=args.stop_with) if args.command == "up" else commands[args.command]()
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 1 if result is False else 0


if __name__ == "__main__":
    sys.exit(main())
