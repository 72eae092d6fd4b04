"""Shared fixtures: every test runs against a real broker.

Run serially (``pytest``), the tests use the broker the settings point at (``make test`` starts
it). Run in parallel (``make test`` runs ``pytest -n N``), each test worker starts a RabbitMQ node
of its own on ports of its own, so a test that restarts its broker disturbs nobody, and sets the
settings for everything it starts (notebook kernels, worker processes) to that node: a
learner's ``.env`` with other ports or credentials does not reach the tests.

The tests are handed out in units (``CourseScheduling``): a lesson's cells, which share one
kernel, go to one worker in order; so do a test file's tests, except the browser tests and the
exercise checks' tests, which are independent and go one test (one browser page, one answer) a
unit, unless they share a fixture of their module's (a node of its own). The longest units (as
the last run measured them) are handed out first.
"""

import fcntl
import json
import os
import signal
import threading
import time
import uuid

import pytest

from helpers.amqp import connect
from helpers.management import management_api
from helpers.waiting import wait_until
from helpers.config import PROJECT_DIR
from helpers.ops.broker import COURSE_POLICIES
from helpers.ops.processes import is_alive
from kernel_ports import use_ports_of_worker
from lesson_exercises import LessonsWithExercises
from scheduling import takes_long, unit_of

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
    """Test worker N's number (gwN), or None in the controller or a serial run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else None


# Two suites may run at once on one machine (two terminals, or `make test` beside a soak run):
# each test worker holds a lock on its node's number for as long as it runs, and takes the next
# free number when another suite's worker holds its own. Numbers stay below 30, where the
# management ports (15750+N) would reach the Prometheus ones (15780+N).
NODE_NUMBERS = range(30)
node_lock = None


def claim_node_number(wanted):
    """Lock and return the first node number from ``wanted`` on that no other test worker holds."""
    global node_lock
    TEST_NODES.mkdir(parents=True, exist_ok=True)
    for number in [n for n in NODE_NUMBERS if n >= wanted] + [n for n in NODE_NUMBERS if n < wanted]:
        handle = open(TEST_NODES / f"node-{number}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        node_lock = handle  # held until this process ends
        return number
    raise pytest.UsageError(f"all {len(NODE_NUMBERS)} test nodes are in use by other test runs")


# How long each unit took in the last run, so the next run hands out the longest first (a
# worker that starts a 40 s lesson last makes everyone wait). Without it (a fresh clone), the long
# units (takes_long) go first.
UNIT_TIMES = TEST_NODES / "unit-times.json"
unit_times = {}


def pytest_collection_modifyitems(items):
    """Longest units first; a stable sort, so a notebook's cells stay in order."""
    try:
        known = json.loads(UNIT_TIMES.read_text())
    except (OSError, ValueError):
        known = {}
    items.sort(key=lambda item: -known.get(unit_of(item.nodeid), 60.0 if takes_long(item.nodeid) else 0.0))


def pytest_runtest_logreport(report):
    unit = unit_of(report.nodeid)
    unit_times[unit] = unit_times.get(unit, 0.0) + report.duration


def pytest_sessionfinish(session):
    if xdist_worker_number() is not None or not unit_times:
        return  # the controller (or a serial run) keeps the record
    try:
        known = json.loads(UNIT_TIMES.read_text())
    except (OSError, ValueError):
        known = {}
    known.update({unit: round(seconds, 1) for unit, seconds in unit_times.items()})
    UNIT_TIMES.parent.mkdir(parents=True, exist_ok=True)
    UNIT_TIMES.write_text(json.dumps(known, indent=1, sort_keys=True))


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return unit_of(nodeid)

    config.option.loadscopereorder = False  # keep the order above, not xdist's "most tests first"
    return CourseScheduling(config, log)


def interrupt_on_signals():
    """SIGTERM ends a test process as Ctrl-C does, through pytest's own teardown (which stops its
    nodes), instead of on the spot. And SIGINT is Ctrl-C even in a suite started in the
    background by a script (``make test &`` without job control), which the shell starts with
    SIGINT ignored: the owner's watch below interrupts the run with it, and every process the
    tests start (a stand-in for a kernel that the lab's interrupt button stops) would inherit
    the ignoring."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def interrupt_when_gone(owner):
    """Interrupt this run (as Ctrl-C would) once process ``owner`` has ended: `make test` passes
    its own pid, so a killed make takes its test run, and so the run's nodes, with it."""
    def watch():
        while is_alive(owner):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, daemon=True, name="course-owner-watch").start()


def pytest_configure(config):
    interrupt_on_signals()
    config.pluginmanager.register(LessonsWithExercises(), "course-lessons-with-exercises")
    worker = xdist_worker_number()
    if worker is None:
        if os.environ.get("COURSE_TEST_OWNER_PID"):
            interrupt_when_gone(int(os.environ["COURSE_TEST_OWNER_PID"]))
        return
    number = claim_node_number(worker + int(os.environ.get("TEST_NODE_OFFSET", "0")))
    os.environ.update(node_settings(number))
    use_ports_of_worker(number, workers_at_most=len(NODE_NUMBERS))
    from helpers.ops import broker

    # The node stops when this worker ends, however it ends (a killed run leaves no node behind).
    broker.up(owner=os.getpid())
    config.pluginmanager.register(CleanNodeForLessons(), "course-clean-node-for-lessons")


def pytest_unconfigure(config):
    if xdist_worker_number() is None:
        return
    from helpers.ops import broker, prometheus

    # broker.down() stops lesson 12's TLS node too, should a failed run have left it running
    for stop in (prometheus.PrometheusServer().down, broker.down):
        try:
            stop()
        except Exception as error:  # noqa: BLE001 - stopping is best effort; say what failed
            print(f"could not stop the test worker's broker or Prometheus: {error}")


class CleanNodeForLessons:
    """A lesson starts on a clean node, as on a learner's fresh broker: lessons 01 and 07 list
    every exchange and binding of the vhost, lesson 09 its policies, and a lesson or test that ran before on this
    worker's node leaves its own behind (lessons clean up at their start, not at their end).
    Only on a test worker's own node, never on a broker the settings point at. A plugin object,
    not a hook of this file: this file's hooks reach only the items under tests/."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if not item.nodeid.endswith(".ipynb::Cell 0"):
            return
        api = management_api()
        with connect(name="pytest-clean-node") as connection:
            channel = connection.channel()
            for queue in api.queue_list():
                channel.queue_delete(queue["name"])
            for exchange in api.exchanges()["name"]:
                channel.exchange_delete(exchange)
        for policy in api.get(api.vhost_path("policies")):  # a fresh broker has the course's own only
            if policy["name"] not in COURSE_POLICIES:
                api.delete(api.vhost_path("policies", policy["name"]))
        # The management statistics of a deleted queue can still arrive for a moment, and show
        # in a new queue of the same name (a CI run once saw lesson 02's fresh 'hello' with the
        # message an earlier test had left): wait until the API lists none of them.
        wait_until(lambda: not api.queue_list(), "the deleted queues to leave the management API", timeout=10, interval=0.2)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``item.rep_call``...), for fixtures that keep evidence
    when their test failed (the browser tests' screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


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
    """A fresh queue name for one test; the queue is deleted afterwards, and an exchange of the same
    name (Celery declares one for each queue it sends to)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    with connect(name="pytest-cleanup") as connection:
        cleanup = connection.channel()
        cleanup.queue_delete(name)
        cleanup.exchange_delete(name)
