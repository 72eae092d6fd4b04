"""The course's local servers are known by pid files: a stale one, whose number now belongs to
another program, must never be taken for the server (nor signalled), a stop ends the process,
and a server given an owner stops once the owner has ended, however it ended."""

import subprocess
import sys
import time

from helpers.ops.processes import is_alive, running_pid, stop, stop_with_owner
from helpers.waiting import wait_until


def test_a_pid_file_pointing_at_another_program_is_not_ours(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"  # past its exec: /proc shows its own command line
        pid_file = tmp_path / "prometheus.pid"
        pid_file.write_text(str(other.pid))
        assert running_pid(pid_file, b"prometheus") is None  # alive, but not Prometheus
        assert running_pid(pid_file, b"python") == other.pid
        assert other.poll() is None  # and nothing was signalled
    finally:
        other.kill()
        other.wait()


def test_a_missing_or_dead_pid_file_means_not_running(tmp_path):
    assert running_pid(tmp_path / "none.pid", b"beam") is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "gone.pid").write_text(str(gone.pid))
    assert running_pid(tmp_path / "gone.pid", b"python") is None


def test_stop_ends_a_process_that_ignores_sigterm(tmp_path):
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout.readline().strip() == "ready"
    stop(stubborn.pid, lambda: stubborn.poll() is None, timeout=0.5)
    assert stubborn.wait(timeout=5) is not None


def sleeper(marker):
    """A process that runs until killed, recognisable by ``marker`` in its command line."""
    process = subprocess.Popen([sys.executable, "-c", f"import time; print('{marker}', flush=True); time.sleep(120)"],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout.readline().strip() == marker  # past its exec
    return process


def test_a_server_with_an_owner_stops_when_the_owner_is_killed_and_not_before():
    owner, server = sleeper("course-owner"), sleeper("course-server")
    try:
        stop_with_owner(owner.pid, server.pid, b"course-server")
        time.sleep(2)  # the watcher looks twice a second
        assert is_alive(server.pid), "the server stopped while its owner still ran"
        owner.kill()  # SIGKILL: the owner has no chance to clean up
        owner.wait()
        wait_until(lambda: server.poll() is not None, "the server to stop after its owner", timeout=30, interval=0.1)
    finally:
        for process in (owner, server):
            process.kill()
            process.wait()


def test_a_zombie_is_not_alive():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_until(lambda: not is_alive(ended.pid), "the ended child to count as gone though not reaped", timeout=10)
    ended.wait()
