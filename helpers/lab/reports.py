"""Where this process's background helpers write their reports: worker pools, RPC servers, Celery
workers and Flower. One folder per process, removed when it ends."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from ..ops.processes import is_alive

_reports = None


def reports_folder():
    """The folder of this process's reports (worker pools', RPC servers', Celery's logs), made on
    first use: readable after a pool stops, removed when the process (the lesson's kernel) ends.
    A process that could not clean up (a killed kernel) leaves its folder, and the next one
    removes it, so nothing piles up in the system's temporary folder."""
    global _reports
    if _reports is None:
        course = Path(tempfile.gettempdir()) / f"course-reports-{os.getuid()}"
        course.mkdir(mode=0o700, exist_ok=True)
        for folder in course.iterdir():
            if folder.name.isdigit() and not is_alive(int(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)
        _reports = course / str(os.getpid())
        _reports.mkdir(exist_ok=True)
        atexit.register(shutil.rmtree, _reports, ignore_errors=True)
    return str(_reports)
