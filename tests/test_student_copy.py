"""The student copy keeps each exercise's check and drops its solution."""

import importlib.util
from pathlib import Path

import nbformat

TOOL = Path(__file__).resolve().parent.parent / "tools" / "make_student_copy.py"
spec = importlib.util.spec_from_file_location("make_student_copy", TOOL)
make_student_copy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student_copy)


def test_solution_is_replaced_but_the_check_stays():
    solution = nbformat.v4.new_code_cell(
        'from helpers.checks import check_queue\n\nchannel.queue_declare(queue="q", durable=True)\n\ncheck_queue("q", durable=True)'
    )
    solution.metadata["tags"] = ["solution"]
    solution.outputs = [nbformat.v4.new_output("stream", text="✅ ok\n")]
    other = nbformat.v4.new_code_cell("x = 1")
    notebook = make_student_copy.student_copy(nbformat.v4.new_notebook(cells=[solution, other]))
    assert notebook.cells[0].source == 'from helpers.checks import check_queue\n\n# Your code here\n\ncheck_queue("q", durable=True)'
    assert "queue_declare" not in notebook.cells[0].source
    assert notebook.cells[0].outputs == [] and notebook.cells[0].metadata["tags"] == []
    assert notebook.cells[1].source == "x = 1"


def test_every_lesson_exercise_keeps_a_check(tmp_path):
    make_student_copy.main(tmp_path)
    copies = sorted(tmp_path.glob("*.ipynb"))
    assert copies
    for path in copies:
        cells = nbformat.read(path, as_version=4).cells
        exercises = [cell for cell in cells if make_student_copy.PLACEHOLDER in cell.source]
        assert exercises, f"{path.name} has no exercise"
        assert all("check_" in cell.source for cell in exercises)
