"""A real Prometheus server (``python -m helpers.ops.prometheus``) scraping the real broker, no Docker.

The server is the system's package, installed if needed; the tests are skipped (with the reason)
only when it cannot be installed here. It runs the compose file's scrape configuration
(docker/prometheus/prometheus.yml) with only the target replaced, which is asserted here.
"""

import subprocess
import sys

import pytest
import yaml

from helpers.amqp import connect, publish
from helpers.errors import CourseError
from helpers.ops.prometheus import (COMPOSE_TARGET, PrometheusServer, compose_config, local_target, replace_target,
                                scrape)

QUEUE_WAIT = 30.0  # a few scrape intervals (2 s) plus the broker's 1 s statistics, with room to spare


@pytest.fixture(scope="module")
def server():
    server = PrometheusServer()
    started_here = not server.is_running()
    try:
        server.up()
    except CourseError as error:
        if "not installed" in str(error) or "Installing Prometheus failed" in str(error):
            pytest.skip(f"Prometheus cannot be installed here: {error}")
        raise
    yield server
    if started_here:
        server.down()


def test_the_scrape_config_it_runs_is_the_compose_one_but_the_target(server):
    running = yaml.safe_load(server.config_file.read_text())
    compose = compose_config()
    assert running != compose
    assert replace_target(running, local_target(), COMPOSE_TARGET) == compose
    assert [t for job in running["scrape_configs"] for s in job["static_configs"] for t in s["targets"]] == [local_target()]


def test_prometheus_loaded_that_config(server):
    loaded = yaml.safe_load(server.api("status/config")["yaml"])
    ours = yaml.safe_load(server.config_file.read_text())
    assert [job["job_name"] for job in loaded["scrape_configs"]] == [job["job_name"] for job in ours["scrape_configs"]]
    for mine, theirs in zip(ours["scrape_configs"], loaded["scrape_configs"]):
        assert theirs["metrics_path"] == mine["metrics_path"]
        assert theirs["static_configs"] == mine["static_configs"]
    assert loaded["global"]["scrape_interval"] == ours["global"]["scrape_interval"]


def test_reads_a_queue_depth_back_through_prometheus(server, queue_name):
    with connect(name="pytest-prometheus") as connection:
        channel = connection.channel()
        channel.queue_declare(queue_name, durable=True)
        for number in range(7):
            publish(channel, queue_name, f"message {number}", persistent=True)
    seen = server.wait_for(f'rabbitmq_queue_messages{{queue="{queue_name}"}}', 7.0, timeout=QUEUE_WAIT)
    assert seen == [7.0]
    assert all(health == "up" for _, health in server.targets())


def test_the_course_dashboard_uses_metrics_the_broker_serves(server, queue_name):
    import json
    import re

    from helpers.ops.prometheus import COMPOSE_CONFIG

    with connect(name="pytest-prometheus") as connection:
        connection.channel().queue_declare(queue_name, durable=True)
    path = yaml.safe_load(COMPOSE_CONFIG.read_text())["scrape_configs"][0]["metrics_path"]
    families = scrape(path)
    served = set(families) | {f"{name}_total" for name in families}
    dashboard = (COMPOSE_CONFIG.parent.parent / "grafana" / "dashboards" / "rabbitmq-course.json").read_text()
    used = set(re.findall(r"rabbitmq_[a-z_]+", json.dumps(json.loads(dashboard))))
    assert used and used <= served, used - served


def test_status_command_reports_the_running_server(server):
    result = subprocess.run([sys.executable, "-m", "helpers.ops.prometheus", "status"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert server.url in result.stdout and result.stderr == ""


def test_a_busy_port_is_one_clear_line(server, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_SERVER_URL", server.url)
    monkeypatch.setenv("PROMETHEUS_STATE_DIR", str(tmp_path))
    second = PrometheusServer()
    assert not second.is_running()
    with pytest.raises(CourseError, match=f"Port {second.port} is in use"):
        second.up(timeout=10)
