"""Prometheus: the broker's metrics endpoint, parsed, and a real Prometheus server beside it.

Two things, one idea (the broker seen through Prometheus):

* **The broker's endpoint.** ``scrape()`` reads the rabbitmq_prometheus plugin's text format
  (PROMETHEUS_URL, port 15692) and parses it with ``prometheus_client``'s own parser;
  ``queue_depths()`` gives each queue's depth from the per-queue series.
* **A Prometheus server without Docker.**

      python -m helpers.ops.prometheus up | down | status

  runs the system's ``prometheus`` package (``/usr/bin/prometheus`` on Debian, installed with
  apt where that can be done without asking, otherwise the exact command is printed) as the
  current user, on 127.0.0.1:9090 (``PROMETHEUS_SERVER_URL`` changes it), its data in
  ``.prometheus/`` (``PROMETHEUS_STATE_DIR`` changes it).

One scrape configuration: ``docker/prometheus/prometheus.yml`` is the file Docker Compose mounts
(profile ``monitoring``), where the broker is ``rabbitmq:15692`` on the compose network. The
local server runs a copy of that same file in which only the target is replaced by the local
node's endpoint (from PROMETHEUS_URL): see ``runtime_config``. ``tests/test_prometheus.py``
asserts that nothing else differs.

Introduced in lesson 10.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ..config import PROJECT_DIR, env, settings
from . import system_packages
from ..errors import CourseError
from ..waiting import wait_until
from .processes import running_pid, stop

COMPOSE_CONFIG = PROJECT_DIR / "docker" / "prometheus" / "prometheus.yml"
COMPOSE_TARGET = "rabbitmq:15692"  # the broker as Prometheus sees it inside the compose network
DEFAULT_SERVER_URL = "http://127.0.0.1:9090"
BINARIES = ["/usr/bin/prometheus", "/usr/local/bin/prometheus", "/opt/homebrew/bin/prometheus"]
READY_TIMEOUT = 30.0


def say(message):
    print(message, flush=True)


# -- the broker's endpoint --------------------------------------------------------------------
def scrape(path="/metrics", url=None, timeout=5.0):
    """Read the broker's Prometheus endpoint (``path``: /metrics, /metrics/per-object, ...).

    Returns ``{family name: Metric}`` as parsed by ``prometheus_client.parser``; each Metric has
    ``.samples`` (name, labels, value). A path the broker does not serve raises a CourseError.
    """
    base = (url or settings().prometheus_url).rstrip("/")
    try:
        response = requests.get(base + path, timeout=timeout)
    except requests.exceptions.RequestException:
        raise CourseError(f"The broker's Prometheus endpoint is not reachable at {base}: is the rabbitmq_prometheus plugin enabled?") from None
    if response.status_code != 200:
        raise CourseError(f"The broker's Prometheus endpoint answered {response.status_code} to {path}.")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(families, name):
    """Every sample of ``name`` (a sample name such as ``rabbitmq_queue_messages``) as (labels, value)."""
    found = []
    for family in families.values():
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), sample.value))
    return found


def queue_depths(url=None):
    """``{queue: messages}`` from the broker's per-queue series (read defensively).

    ``/metrics/detailed?family=queue_coarse_metrics`` (RabbitMQ 3.10+) names the series
    ``rabbitmq_detailed_queue_messages``; ``/metrics/per-object`` names it
    ``rabbitmq_queue_messages``. The first that answers with queue labels is used; only the queues
    of the course's vhost (the settings') count.
    """
    for path, name in [("/metrics/detailed?family=queue_coarse_metrics", "rabbitmq_detailed_queue_messages"),
                       ("/metrics/per-object", "rabbitmq_queue_messages")]:
        try:
            found = samples(scrape(path, url=url), name)
        except CourseError:
            continue
        if any("queue" in labels for labels, _ in found):
            vhost = settings().vhost   # a shared broker serves other vhosts' queues of the same names
            return {labels["queue"]: int(value) for labels, value in found
                    if "queue" in labels and labels.get("vhost", vhost) == vhost}
    return {}


# -- a Prometheus server ----------------------------------------------------------------------
def server_url():
    return env("PROMETHEUS_SERVER_URL", DEFAULT_SERVER_URL).rstrip("/")


def state_dir():
    return Path(env("PROMETHEUS_STATE_DIR") or PROJECT_DIR / ".prometheus").resolve()


def local_target():
    """The broker's endpoint as the local server scrapes it: ``host:port`` from PROMETHEUS_URL."""
    parts = urlsplit(settings().prometheus_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 15692}"


def compose_config():
    """docker/prometheus/prometheus.yml, the file Compose mounts, as a dict."""
    return yaml.safe_load(COMPOSE_CONFIG.read_text())


def replace_target(config, old, new):
    """A copy of a scrape configuration with target ``old`` replaced by ``new`` (nothing else changes)."""
    copied = yaml.safe_load(yaml.safe_dump(config))
    for job in copied.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            static["targets"] = [new if target == old else target for target in static.get("targets", [])]
    return copied


def runtime_config():
    """The configuration the local server runs: the compose file's, with only the target replaced."""
    config = compose_config()
    targets = [t for job in config.get("scrape_configs", []) for s in job.get("static_configs", []) for t in s.get("targets", [])]
    if COMPOSE_TARGET not in targets:
        raise CourseError(f"{COMPOSE_CONFIG.name} no longer scrapes {COMPOSE_TARGET}; helpers/ops/prometheus.py replaces that target.")
    return replace_target(config, COMPOSE_TARGET, local_target())


def find_binary():
    for candidate in BINARIES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("prometheus")


def install_command():
    return system_packages.install_command(apt="prometheus", brew="prometheus", dnf="golang-github-prometheus")


def install_package():
    """The prometheus binary, installing Debian's package first where it is missing and that can
    be done without asking; else a CourseError with the command to run."""
    return system_packages.ensure_package(find_binary, "prometheus", service="prometheus",
                                          what="Prometheus is not installed.", dnf="golang-github-prometheus")


class PrometheusServer:
    """The system's Prometheus binary, run as the current user with the course's configuration."""

    def __init__(self):
        self.url = server_url()
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 9090
        self.state = state_dir()
        self.pid_file = self.state / "prometheus.pid"
        self.config_file = self.state / "prometheus.yml"
        self.log_file = self.state / "prometheus.log"

    def pid(self):
        """The server's process id, or None (a stale pid file, or one whose number another program now has)."""
        return running_pid(self.pid_file, b"prometheus")

    def is_running(self):
        return self.pid() is not None

    def is_ready(self):
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.exceptions.RequestException:
            return False

    def write_config(self):
        self.state.mkdir(parents=True, exist_ok=True)
        header = (f"# Written by helpers/ops/prometheus.py from {COMPOSE_CONFIG.relative_to(PROJECT_DIR)}:\n"
                  f"# the same configuration, with the target {COMPOSE_TARGET} replaced by {local_target()}.\n")
        self.config_file.write_text(header + yaml.safe_dump(runtime_config(), sort_keys=False))
        return self.config_file

    def up(self, timeout=READY_TIMEOUT):
        if self.is_running():
            self.wait_until_ready(timeout)
            return
        binary = install_package()
        from .broker import port_is_open

        if port_is_open(self.host, self.port, timeout=0.5):
            raise CourseError(f"Port {self.port} is in use by another program, so Prometheus cannot start there. "
                              f"See which with: ss -ltnp 'sport = :{self.port}'; or set PROMETHEUS_SERVER_URL to another port.")
        self.write_config()
        (self.state / "data").mkdir(exist_ok=True)
        command = [binary, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.state / 'data'}",
                   f"--web.listen-address={self.host}:{self.port}", "--storage.tsdb.retention.time=2d"]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.state, start_new_session=True)
        self.pid_file.write_text(str(process.pid))
        self.wait_until_ready(timeout, process)

    def wait_until_ready(self, timeout=READY_TIMEOUT, process=None):
        def ready():
            if process is not None and process.poll() is not None:
                lines = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
                raise CourseError("Prometheus stopped while starting: " + " | ".join(lines))
            return self.is_ready()

        wait_until(ready, f"Prometheus to answer at {self.url} (log: {self.log_file})", timeout=timeout, interval=0.2)

    def down(self, timeout=15.0):
        pid = self.pid()
        if pid is None:
            return False
        stop(pid, self.is_running, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True

    # -- asking it ---------------------------------------------------------------------------
    def api(self, path, **params):
        try:
            response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=5)
        except requests.exceptions.RequestException:
            raise CourseError(f"Prometheus is not reachable at {self.url}. Start it with: python -m helpers.ops.prometheus up") from None
        body = response.json()
        if body.get("status") != "success":
            raise CourseError(f"Prometheus refused {path}: {body.get('error', response.status_code)}")
        return body["data"]

    def query(self, expression):
        """An instant query (``/api/v1/query``): a list of ``(labels, value)``."""
        data = self.api("query", query=expression)
        return [(item["metric"], float(item["value"][1])) for item in data.get("result", [])]

    def targets(self):
        """The active scrape targets: ``[(scrape URL, health)]``."""
        return [(t.get("scrapeUrl"), t.get("health")) for t in self.api("targets").get("activeTargets", [])]

    def wait_for(self, expression, value, timeout=30.0):
        """Poll an instant query until one series equals ``value``; return what was last seen."""
        seen = []

        def found():
            seen[:] = [v for _, v in self.query(expression)]
            return value in seen

        wait_until(found, f"Prometheus to see {expression} == {value}", timeout=timeout, interval=0.5, seen=lambda: seen)
        return seen


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.ops.prometheus",
                                     description="A Prometheus server scraping the course's broker (without Docker).")
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    server = PrometheusServer()
    try:
        if args.command == "up":
            server.up()
            say(f"Prometheus is ready at {server.url} (scraping {local_target()}; config {server.config_file}).")
        elif args.command == "down":
            say("Prometheus stopped." if server.down() else "Prometheus (the course's) is not running.")
        else:
            if not server.is_running():
                say(f"Not running. Start it with: python -m helpers.ops.prometheus up  (it would listen on {server.url}).")
                return 1
            health = ", ".join(f"{url} {state}" for url, state in server.targets()) or "no targets yet"
            say(f"Running at {server.url}: {health}.")
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
