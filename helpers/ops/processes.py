"""The course's local server processes (a RabbitMQ node, a Prometheus server), known by a pid
file: whether one runs, and stopping it, the same way for both.

A pid file can outlive its process (a reboot, a crash), and the number can then belong to
another program; ``running_pid`` checks the program's command line too, so that ``stop`` never
signals a process that is not ours.
"""

import os
import signal
import time
from pathlib import Path

from ..errors import CourseError
from ..waiting import wait_until


def running_pid(pid_file, program):
    """The pid in ``pid_file`` if that process runs and its command line contains ``program``
    (bytes, e.g. b"beam"); else None."""
    try:
        pid = int(Path(pid_file).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and program not in cmdline.read_bytes():
        return None  # the number now belongs to another program
    return pid


def stop(pid, is_running, timeout=30.0):
    """SIGTERM (a graceful stop), wait up to ``timeout`` s while ``is_running()``, then SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not is_running() or _reaped(pid), "the process to stop", timeout=timeout, interval=0.1)
    except CourseError:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _reaped(pid):
    """Reap ``pid`` if this process started it (a zombie still answers kill 0); True once gone."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False
