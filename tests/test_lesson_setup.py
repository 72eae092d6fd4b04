"""The first broker cell of lesson 00, run in a real kernel, when no broker answers."""

import socket
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from limits import NEVER_HANGS

LESSON_00 = Path(__file__).resolve().parent.parent / "notebooks" / "00_set_up_and_check.ipynb"


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_broker_cell():
    cells = nbformat.read(LESSON_00, as_version=4).cells
    return next(cell for cell in cells if cell.cell_type == "code" and "start_lesson(" in cell.source)


def test_first_broker_cell_says_in_one_line_within_5_seconds_how_to_start_the_broker(monkeypatch):
    # What a learner's kernel sees when the broker is stopped: nothing listens on its ports.
    monkeypatch.setenv("AMQP_URL", f"amqp://devuser:devpassword@localhost:{closed_port()}/")
    monkeypatch.setenv("MANAGEMENT_URL", f"http://localhost:{closed_port()}")
    cell = nbformat.v4.new_code_cell(first_broker_cell().source)
    notebook = nbformat.v4.new_notebook(cells=[cell])
    client = NotebookClient(notebook, kernel_name="python3", allow_errors=True, timeout=60,
                            resources={"metadata": {"path": str(LESSON_00.parent)}})
    with client.setup_kernel():
        started = time.monotonic()
        client.execute_cell(cell, 0)
        elapsed = time.monotonic() - started
    errors = [output for output in cell.outputs if output.output_type == "error"]
    assert elapsed < NEVER_HANGS, f"took {elapsed:.1f} s"
    assert len(errors) == 1 and len(cell.outputs) == 1, cell.outputs
    assert errors[0].traceback == [f"CourseError: {errors[0].evalue}"], "one line, no traceback"
    assert "not reachable" in errors[0].evalue and "make broker" in errors[0].evalue
