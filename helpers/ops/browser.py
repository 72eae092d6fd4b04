"""The web browser the course's browser tests drive: the system's Chromium.

The tests open the lab as a person does, with Playwright driving a real Chromium. Playwright's
own browser builds are downloaded from the web at install time; the course uses the system's
``chromium`` package instead (Debian: ``apt-get install chromium``), installed like RabbitMQ where
that can be done without a question, and otherwise named with the exact command to run.

    python -m helpers.ops.browser       # find (or install) it; prints its path or what to run

Never imported by a lesson.
"""

import shutil
import sys

from ..errors import CourseError
from . import system_packages

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find():
    """The path of a Chromium (or Chrome) on PATH, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def install_command():
    return system_packages.install_command(apt="chromium", brew="--cask chromium", dnf="chromium")


def ensure():
    """The browser's path, installing Debian's chromium first where that can be done without asking."""
    return system_packages.ensure_package(find, "chromium", service=None, what="The browser tests need Chromium.",
                                          brew="--cask chromium")


def main():
    try:
        print(f"Browser for the lab's tests: {ensure()}")
    except CourseError as error:
        print(f"Browser tests will be skipped: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
