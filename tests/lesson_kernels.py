"""Running a lesson as a learner would, in a kernel of its own started from notebooks/: the
course's edition tool (``exercises``, tools/exercises.py, which makes the solution edition), and
``run_in_kernel``, which runs a notebook, with a workshop attendee's .env when one is given."""

import importlib.util
import sys
from pathlib import Path

from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
from nbclient import NotebookClient

from helpers.config import read_dotenv

PROJECT = Path(__file__).resolve().parents[1]
NOTEBOOKS = PROJECT / "notebooks"

_spec = importlib.util.spec_from_file_location("exercises", PROJECT / "tools" / "exercises.py")
exercises = sys.modules.setdefault("exercises", importlib.util.module_from_spec(_spec))
if not hasattr(exercises, "solution_edition"):
    _spec.loader.exec_module(exercises)


def run_in_kernel(notebook, monkeypatch=None, env_file=None, allow_errors=False, timeout=180):
    """Run every cell of ``notebook`` (in place) in a new kernel from notebooks/; with ``env_file``
    (an attendee's .env, as `classroom create` writes it) the kernel starts with its settings.
    With ``allow_errors``, every cell runs even after an error, which stays in its outputs."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name=NATIVE_KERNEL_NAME, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    if env_file is None:
        client.execute()
        return notebook
    with monkeypatch.context() as patched:
        for key, value in read_dotenv(env_file).items():
            patched.setenv(key, value)   # the kernel starts with the attendee's settings
        client.execute()
    return notebook
