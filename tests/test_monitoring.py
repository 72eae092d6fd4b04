"""Lesson 10's helpers against the real broker: the Prometheus endpoint, alerts, the dashboard,
the background publisher, and the lesson's checks (which must be able to say ❌)."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from helpers.lab.alerts import AlertRule, course_rules, evaluate, no_consumers, queue_too_long
from helpers.checks import check_alert_rule
from helpers.lab.dashboard import snapshot, text_table
from helpers.errors import CourseError
from helpers.waiting import wait_until
from helpers.lab.load import BackgroundPublisher
from helpers.metrics import SAMPLE_COLUMNS
from helpers.ops.prometheus import queue_depths, samples, scrape
from helpers.lab.workers import make_jobs, publish_jobs
from limits import NEVER_HANGS


@pytest.fixture
def filled(channel, queue_name, api):
    """``queue_name`` declared with 5 messages and no consumer, settled in the management API."""
    channel.queue_declare(queue_name, durable=True)
    publish_jobs(channel, queue_name, make_jobs(5))
    api.wait_for_queue(queue_name, messages=5)
    return queue_name


# -- the Prometheus endpoint -----------------------------------------------------------------
def test_per_object_depth_equals_the_management_api(filled, api):
    assert queue_depths()[filled] == api.queue(filled)["messages"] == 5
    per_object = scrape("/metrics/per-object")
    assert (({"vhost": "/", "queue": filled}, 5.0)) in samples(per_object, "rabbitmq_queue_messages")


def test_aggregated_endpoint_has_no_queue_labels(filled):
    found = samples(scrape("/metrics"), "rabbitmq_queue_messages")
    assert len(found) == 1 and "queue" not in found[0][0] and found[0][1] >= 5


def test_a_path_the_broker_does_not_serve_is_a_course_error():
    with pytest.raises(CourseError, match="answered 404"):
        scrape("/no-such-metrics")


# -- alerts ----------------------------------------------------------------------------------
def test_rules_fire_on_live_data(filled, api):
    frame = pd.DataFrame(columns=SAMPLE_COLUMNS)
    table = evaluate([queue_too_long(threshold=3), no_consumers(), queue_too_long(threshold=50)], frame,
                     {filled: api.queue(filled)})
    assert list(table.columns) == ["rule", "queue", "firing", "value", "why"]
    assert list(table["firing"]) == [True, True, False]
    assert list(table["value"]) == [5.0, 5.0, 5.0]
    assert "no consumer" in table["why"][1] and table["why"][2].startswith("ok:")


def test_unacked_growing_reads_the_samples():
    rule = [rule for rule in course_rules() if rule.name == "unacked growing"][0]
    samples_ = pd.DataFrame({"messages_unacknowledged": [0, 4, 9, 15]})
    assert rule.check(samples_, {"name": "q", "messages_unacknowledged": 15})[:2] == (True, 15.0)
    assert rule.check(samples_.iloc[:2], {"name": "q", "messages_unacknowledged": 4})[:2] == (False, 4.0)


# -- the background publisher and the dashboard ------------------------------------------------
def test_background_publisher_is_bounded_in_count_and_time(channel, queue_name, api):
    channel.queue_declare(queue_name, durable=True)
    with BackgroundPublisher(queue_name, make_jobs(8), rate=50) as publisher:
        pass
    assert publisher.published == 8
    api.wait_for_queue(queue_name, messages=8)
    slow = BackgroundPublisher(queue_name, make_jobs(1000), rate=5, max_seconds=1.0).start()
    assert slow.join(timeout=15) < 1000 and slow.done


def test_snapshot_and_text_table(filled, api):
    rows = snapshot(api, [filled])
    assert [(row["queue"], row["ready"], row["consumers"]) for row in rows] == [(filled, 5, 0)]
    table = text_table(rows, 3, 60).splitlines()
    assert "ready" in table[2] and table[3].split()[:3] == [filled, "5", "0"]


def test_dashboard_command_is_bounded_and_works_headless(filled, tmp_path):
    png = tmp_path / "live.png"
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "helpers.lab.dashboard", "--seconds", "2", "--queue", filled,
                             "--png", str(png), "--window"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "headless" in result.stdout and filled in result.stdout
    assert png.stat().st_size > 10_000


# -- the lesson's checks can fail --------------------------------------------------------------
def test_check_alert_rule(filled, capsys):
    check_alert_rule(no_consumers(threshold=2), firing_on=[filled], cases=[({"messages": 2, "consumers": 0}, False)])
    assert capsys.readouterr().out.startswith("✅")
    check_alert_rule(no_consumers(threshold=10), firing_on=[filled])
    assert "should fire but stays quiet" in capsys.readouterr().out
    check_alert_rule(no_consumers(), cases=[({"name": "stragglers", "messages": 1, "consumers": 0}, False)])
    assert "fires but should stay quiet on stragglers" in capsys.readouterr().out
    check_alert_rule(AlertRule("broken", lambda samples, queue: queue["nope"], 1, ""), firing_on=[filled])
    assert "measure failed" in capsys.readouterr().out
    check_alert_rule("not a rule")
    assert capsys.readouterr().out.startswith("❌")


def test_the_depth_probe_reads_the_queue_itself_without_lag(channel, queue_name):
    from helpers.amqp import declare_queue, publish
    from helpers.metrics import DepthProbe

    declare_queue(channel, queue_name)
    with DepthProbe([queue_name, "no-such-queue-here"], interval=0.05) as probe:
        for number in range(7):
            publish(channel, queue_name, f"m{number}", persistent=False)
        seen = wait_until(lambda: [r for r in list(probe.rows) if r["queue"] == queue_name and r["messages_ready"] == 7],
                          "the probe to read 7", timeout=2, interval=0.02)
    assert seen  # within 2 s; the management API's statistics take a second or more
    frame = probe.frame()
    assert set(frame["queue"]) == {queue_name}  # the missing queue is reported, not read as 0
    assert any("no-such-queue-here" in error for error in probe.errors)


def test_a_live_chart_whose_end_is_met_at_once_still_redraws_at_least_three_times(queue_name, channel):
    """A chart ended by ``until`` right away would show nothing move: it draws three times first."""
    from IPython.core.interactiveshell import InteractiveShell

    from helpers.lab.dashboard import LiveChart

    InteractiveShell.instance()  # display handles, as in a notebook's kernel

    channel.queue_declare(queue_name, durable=True)
    live = LiveChart([queue_name], title=queue_name)
    frame = live.run(seconds=NEVER_HANGS, until=lambda frame: True)
    assert live.redraws == 3 and len(frame)
