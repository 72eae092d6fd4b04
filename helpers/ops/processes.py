"""The course's local server processes (a RabbitMQ node, a Prometheus server), known by a pid
file: whether one runs, and stopping it, the same way for both.

A pid file can outlive its process (a reboot, a crash), and the number can then belong to
another program; ``running_pid`` checks the program's command line too, so that ``stop`` never
signals a process that is not ours.

A server started for a while (a test worker's node, a lesson's node of its own) is given an
owner: ``stop_with_owner`` leaves a small watcher beside it that stops it as soon as the owner
has ended, however it ended (Ctrl-C, SIGTERM, SIGKILL, a kernel shut down), so nothing is left
running. The watcher is this module run as a program:

    python -m helpers.ops.processes OWNER_PID PID PROGRAM [group]

A server that several processes share (a workshop attendee's node of their own, used by each
lesson notebook that needs one) is owned by a keeper that lives while any of them runs
(``start_keeper``; each process adds itself to the keeper's file):

    python -m helpers.ops.processes keep OWNERS_FILE
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import CourseError
from ..waiting import wait_until


def running_pid(pid_file, program):
    """The pid in ``pid_file`` if that process runs and its command line contains ``program``
    (bytes, e.g. b"beam"); else None."""
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return None
    # is_alive reads /proc with care: a process that ends while it looks (lesson 13 kills a node
    # and watches it go) counts as ended, not as an error.
    return pid if is_alive(pid, program) else None


def stop(pid, is_running, timeout=30.0, group=False):
    """SIGTERM (a graceful stop), wait up to ``timeout`` s while ``is_running()``, then SIGKILL.
    With ``group``, both signals go to the process group ``pid`` leads, its children included."""
    send = os.killpg if group else os.kill
    send(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not is_running() or _reaped(pid), "the process to stop", timeout=timeout, interval=0.1)
    except CourseError:
        send(pid, signal.SIGKILL)
        time.sleep(0.5)


def _reaped(pid):
    """Reap ``pid`` if this process started it (a zombie still answers kill 0); True once gone."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def is_alive(pid, program=None):
    """True while ``pid`` runs (a zombie, ended but not yet reaped, counts as ended) and, if
    ``program`` (bytes) is given, its command line still contains it."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): kill 0 is all there is
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and (program is None or program in cmdline)


def group_alive(group):
    """Whether any process of the process group ``group`` still exists."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def watch(owner_pid, pid, program, interval=0.5, group=False):
    """Wait while both run; once the owner has ended, stop ``pid`` (its process group, with
    ``group``: until none of it is left, as a leader can end before what it started, e.g. make
    before the JupyterLab it runs)."""
    while is_alive(pid, program):
        if not is_alive(owner_pid):
            stop(pid, (lambda: group_alive(pid)) if group else (lambda: is_alive(pid, program)), group=group)
            return
        time.sleep(interval)


def stop_with_owner(owner_pid, pid, program, group=False):
    """Leave a watcher that stops ``pid`` (whose command line contains ``program``, bytes) once
    ``owner_pid`` has ended; with ``group``, the whole process group ``pid`` leads (a server's
    script and the program it started). It runs in a session of its own, so the Ctrl-C that ends
    the owner does not end it first."""
    project = Path(__file__).resolve().parents[2]
    subprocess.Popen([sys.executable, "-m", "helpers.ops.processes", str(owner_pid), str(pid), program.decode(),
                      *(["group"] if group else [])],
                     cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def listed_pids(owners_file):
    """The process ids in ``owners_file``, one a line (none if it is missing)."""
    try:
        return [int(line) for line in Path(owners_file).read_text().split() if line.isdigit()]
    except OSError:
        return []


def keep(owners_file, interval=0.5):
    """Live while any process listed in ``owners_file`` runs."""
    while any(is_alive(pid) for pid in listed_pids(owners_file)):
        time.sleep(interval)


def start_keeper(owners_file):
    """Start a keeper of ``owners_file`` (see the module's docstring) and return its process id:
    the owner to give a shared server, which then stops once the last listed process has ended."""
    project = Path(__file__).resolve().parents[2]
    return subprocess.Popen([sys.executable, "-m", "helpers.ops.processes", "keep", str(owners_file)],
                            cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True).pid


if __name__ == "__main__":
    if sys.argv[1] == "keep":
        keep(sys.argv[2])
    else:
        watch(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode(), group=sys.argv[4:] == ["group"])
