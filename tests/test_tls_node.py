"""Lesson 12's TLS node is a node of the lesson's own: it never points the process's settings at
itself (another thread keeps talking to the course's broker while it starts), and it stops by
itself when the process that started it ends, however that ends (a kernel killed mid-lesson)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from helpers.config import settings
from helpers.ops.broker import port_is_open
from helpers.ops.tls_node import TLSNode
from helpers.waiting import wait_until
from limits import NEVER_HANGS


@pytest.fixture
def certificates(tmp_path):
    import trustme

    authority = trustme.CA()
    server = authority.issue_cert("localhost", "127.0.0.1")
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    return tmp_path


def test_starting_and_stopping_leaves_the_settings_alone(certificates):
    environment, course_url = dict(os.environ), settings().amqp_url
    seen, done = set(), threading.Event()

    def read_settings_meanwhile():
        while not done.is_set():
            seen.add(settings().amqp_url)
            time.sleep(0.002)

    reader = threading.Thread(target=read_settings_meanwhile)
    reader.start()
    node = TLSNode(certificates)
    try:
        node.start()
        assert node.api().overview().get("rabbitmq_version"), "the TLS node answers on its own management port"
        node.ctl("status")
    finally:
        node.stop()
        done.set()
        reader.join()
    assert seen == {course_url}, f"another thread saw the settings point elsewhere: {seen - {course_url}}"
    assert dict(os.environ) == environment


def beams_of(state):
    """The Erlang VMs whose command line names the state folder ``state``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if b"beam" in text and str(state).encode() in text:
            found.append(int(cmdline.parent.name))
    return found


def test_a_node_whose_owner_is_killed_while_it_boots_stops_too(certificates):
    """The owner is killed before the node is ready (as when `make test` is interrupted at its
    start): the node must not be left running."""
    program = textwrap.dedent(f"""
        from helpers.ops.tls_node import TLSNode
        print("starting", flush=True)
        TLSNode({str(certificates)!r}).start()
    """)
    owner = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    node = TLSNode(certificates)
    try:
        assert owner.stdout.readline().strip() == "starting"
        wait_until(lambda: beams_of(node.state), "the node to be booting", timeout=NEVER_HANGS, interval=0.05)
        assert not port_is_open("127.0.0.1", node.amqps_port), "the node was ready already: this test kills its owner earlier"
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_until(lambda: not beams_of(node.state), "the booting node to stop after its owner was killed",
                   timeout=2 * NEVER_HANGS, interval=0.2)
    finally:
        owner.kill()
        owner.wait()
        node.stop()


def processes_in(folder):
    """The processes whose working folder is ``folder`` (a node's script, from its first moment)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if cwd.resolve() == Path(folder).resolve():
                found.append(int(cwd.parent.name))
        except OSError:
            continue
    return found


def test_a_node_whose_owner_is_killed_before_its_watcher_runs_never_starts(certificates):
    """The owner is killed after it started the node's script but before it started the watcher
    that stops the node with it: the script waits at a gate that only the owner opens, so it ends
    without starting the node."""
    program = textwrap.dedent(f"""
        import time
        from helpers.ops import broker
        from helpers.ops.tls_node import TLSNode

        def killed_here(*args, **kwargs):
            print("script started, no watcher yet", flush=True)
            time.sleep(300)

        broker.stop_with_owner = killed_here
        TLSNode({str(certificates)!r}).start()
    """)
    owner = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    node = TLSNode(certificates)
    try:
        assert owner.stdout.readline().strip() == "script started, no watcher yet"
        assert processes_in(node.state), "the node's script runs, waiting at its gate"
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_until(lambda: not processes_in(node.state), "the node's script to end with its owner",
                   timeout=NEVER_HANGS, interval=0.1)
        assert not beams_of(node.state), "the node started although its owner was gone"
    finally:
        owner.kill()
        owner.wait()
        node.stop()


def test_the_node_stops_when_the_process_that_started_it_is_killed(certificates):
    program = textwrap.dedent(f"""
        from helpers.ops.tls_node import TLSNode
        TLSNode({str(certificates)!r}).start()
        print("started", flush=True)
        import time
        time.sleep(300)
    """)
    owner = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    node = TLSNode(certificates)
    try:
        assert owner.stdout.readline().strip() == "started"
        assert port_is_open("127.0.0.1", node.amqps_port)
        owner.send_signal(signal.SIGKILL)  # no teardown at all, as when a kernel is killed
        owner.wait()
        wait_until(lambda: not port_is_open("127.0.0.1", node.amqps_port, timeout=0.5),
                   "the TLS node to stop after its owner was killed", timeout=2 * NEVER_HANGS, interval=0.2)
    finally:
        owner.kill()
        owner.wait()
        node.stop()
