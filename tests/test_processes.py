"""The course's local servers are known by pid files: a stale one, whose number now belongs to
another program, must never be taken for the server (nor signalled), and a stop ends the process."""

import subprocess
import sys

from helpers.ops.processes import running_pid, stop


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
