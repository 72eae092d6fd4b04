"""A cluster of three RabbitMQ nodes of a lesson's own, beside the course's broker (lesson 13).

    cluster = Cluster()
    cluster.start()            # three nodes, joined; about 30 s on a 2-core laptop
    cluster.node_names         # ['course-7172@localhost', ...]
    cluster.parameters()       # pika connection parameters, one per node (pika tries them in turn)
    cluster.kill(name)         # SIGKILL a node, as a crash would
    cluster.start_node(name)   # start it again: it rejoins the cluster by itself
    cluster.stop()

The nodes run from the system's ``rabbitmq-server`` package, like lesson 12's TLS node, whatever
backend runs the course's broker; they listen on 127.0.0.1 only, on the course broker's ports
plus 1500, 1600 and 1700 (AMQP 7172, 7272, 7372 and management 17172, 17272, 17372 beside a
broker on the usual ports), share one Erlang cookie, and keep their state in ``.broker-cluster-N/``
beside the course's node's state. Each stops by itself when the process that started it ends
(a kernel shut down or interrupted).

Introduced in lesson 13.
"""

import os
import secrets
import shutil
import signal
import threading

import pika

from ..config import settings
from ..errors import CourseError
from ..management import ManagementAPI
from ..waiting import wait_until
from . import broker

SIZE = 3
PORT_OFFSET, PORT_STRIDE = 1500, 100


class Cluster:
    """Three nodes of the lesson's own, joined into one cluster, started and stopped by the lesson."""

    def __init__(self, size=SIZE):
        course = settings()
        self.nodes = []
        for index in range(size):
            shift = PORT_OFFSET + PORT_STRIDE * index
            current = broker.settings_on_ports(course.amqp_port + shift, course.management_port + shift,
                                               course.prometheus_port + shift)
            self.nodes.append(broker.LocalNode(current=current, state=broker.state_beside(f"-cluster-{index + 1}"),
                                               plugins_file=broker.PLUGINS_FILE))
        self.by_name = {node.node_name: node for node in self.nodes}

    @property
    def node_names(self):
        return [node.node_name for node in self.nodes]

    # -- starting and stopping ------------------------------------------------------------------
    def start(self):
        """Start the nodes afresh (any left by an interrupted lesson are stopped first) and join
        the second and third to the first."""
        self.stop()
        broker.install_server_package()
        cookie = secrets.token_hex(20)
        for node in self.nodes:
            # a node of the previous cluster (an earlier lesson's or test's) may still be freeing its ports
            broker.check_ports_free(node.current, wait=20, who=f"node {node.node_name}")
            shutil.rmtree(node.state / "data", ignore_errors=True)
            node.environment()  # writes the node's configuration; its HOME holds the cookie
            cookie_file = node.state / "home" / ".erlang.cookie"
            cookie_file.unlink(missing_ok=True)
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        self._in_parallel(lambda node: node.up(owner=os.getpid()), self.nodes)
        for node in self.nodes[1:]:  # one at a time: two nodes joining at once may fail
            self._join(node, self.nodes[0].node_name)
        wait_until(lambda: len(self.running()) == len(self.nodes), f"all {len(self.nodes)} nodes to run in one cluster",
                   timeout=60, interval=0.5)

    @staticmethod
    def _join(node, first):
        node.ctl("stop_app")
        node.ctl("join_cluster", first)
        node.ctl("start_app")

    @staticmethod
    def _in_parallel(action, nodes):
        """``action(node)`` for each node at once (each takes seconds); the first error is raised."""
        errors = []

        def run(node):
            try:
                action(node)
            except Exception as error:  # noqa: BLE001 - raised below, in the caller's thread
                errors.append(error)

        threads = [threading.Thread(target=run, args=(node,), daemon=True) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        if errors:
            raise errors[0]
        if any(thread.is_alive() for thread in threads):
            raise CourseError("A cluster node did not start within 180 s.")

    def stop(self):
        """Stop every node that runs (a graceful stop each, at the same time)."""
        self._in_parallel(lambda node: node.down(), [node for node in self.nodes if node.is_running()])

    def kill(self, name):
        """SIGKILL node ``name``'s Erlang VM: a crash, with no goodbye to clients or peers."""
        node = self.by_name[name]
        pid = node.pid()
        if pid is None:
            raise CourseError(f"{name} is not running.")
        os.kill(pid, signal.SIGKILL)
        # Gone means its ports refuse too: the VM's main thread is a zombie a moment before its
        # other threads have exited and closed its sockets (a soak run saw a client still reach
        # it, and a start right after find its management port taken).
        wait_until(lambda: not node.is_running() and not node.ports_open(), f"{name} to be gone", timeout=30,
                   interval=0.1)

    def start_node(self, name):
        """Start node ``name`` again; it finds its cluster from its own state and rejoins it."""
        node = self.by_name[name]
        node.pid_file.unlink(missing_ok=True)
        broker.check_ports_free(node.current, wait=20, who=f"node {name}")  # stopped, but its ports may still close
        node.up(owner=os.getpid())

    # -- looking at it ---------------------------------------------------------------------------
    def api(self, name=None):
        """The management API of node ``name`` (the first running node's if None): any node
        answers for the whole cluster."""
        node = self.by_name[name] if name else next((n for n in self.nodes if n.is_running()), self.nodes[0])
        return ManagementAPI(node.current.management_url, node.current.user, node.current.password)

    def running(self):
        """The names of the nodes the cluster counts as running, from the management API."""
        try:
            return sorted(row["name"] for row in self.api().get("nodes") if row.get("running"))
        except CourseError:
            return []

    def parameters(self, names=None):
        """pika connection parameters, one per node (``names``, or every node): given a list,
        pika's BlockingConnection tries each in turn until one accepts."""
        chosen = [self.by_name[name] for name in (names or self.node_names)]
        made = []
        for node in chosen:
            parameters = pika.URLParameters(node.current.amqp_url)
            parameters.connection_attempts = 1
            parameters.socket_timeout = 2  # a dead node's refusal is quick; a hung one is not waited for long
            parameters.blocked_connection_timeout = 5
            made.append(parameters)
        return made

    def node_of_port(self, port):
        """The name of the node that listens for AMQP on ``port``."""
        return next(node.node_name for node in self.nodes if node.current.amqp_port == port)
