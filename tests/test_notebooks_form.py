"""Every lesson is stored in normal form: one clean run's outputs, nothing machine-specific.

The outputs themselves are checked by strict nbval (a fresh run must reproduce them); these
tests check what nbval does not: how the file was produced and what a reader sees in it.
"""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TOOLS = Path(__file__).resolve().parent.parent / "tools"


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def tags(cell):
    return cell.metadata.get("tags", [])


def may_raise(cell):
    return "raises-exception" in tags(cell) or "NBVAL_RAISES_EXCEPTION" in cell.source


@pytest.fixture(params=NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def notebook(request):
    return nbformat.read(request.param, as_version=4)


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 3


def test_valid_and_only_course_metadata(notebook):
    nbformat.validate(notebook)
    assert notebook.metadata == load_tool("run_notebooks").normalize(nbformat.from_dict(dict(notebook))).metadata
    for cell in notebook.cells:
        assert set(cell.metadata) <= {"tags"}, f"stray cell metadata {dict(cell.metadata)} in: {cell.source[:60]}"


def test_stored_outputs_come_from_one_clean_run(notebook):
    counts = [cell.execution_count for cell in code_cells(notebook)]
    assert None not in counts, "some code cells were never run: make notebooks"
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts} are not 1..n: make notebooks"


def test_outputs_show_no_machine_details_or_surprises(notebook):
    for cell in code_cells(notebook):
        text = json.dumps(cell.outputs)
        assert not re.search(r"/(root|home|tmp|Users|work)/", text), f"a machine path in the output of: {cell.source[:60]}"
        assert not re.search(r"\bat 0x[0-9a-f]{6,}", text), f"a memory address in the output of: {cell.source[:60]}"
        if not may_raise(cell):
            assert not [o for o in cell.outputs if o.output_type == "error"], f"an error in: {cell.source[:60]}"
            assert not [o for o in cell.outputs if o.get("name") == "stderr"], f"stderr output (a warning?) in: {cell.source[:60]}"


def test_lesson_shape(notebook):
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert len(re.findall(r"^# ", markdown, re.MULTILINE)) == 1, "one H1 title"
    for heading in ("What you'll learn", "Exercise", "Key points"):
        assert heading in markdown, f"no '{heading}' section"
    assert exercises(notebook), "a lesson has exercises"
    first_code = code_cells(notebook)[0].source
    assert "start_lesson(" in first_code, "the first code cell is the lesson's setup call"


def test_no_unbounded_waits_or_installs(notebook):
    for cell in code_cells(notebook):
        assert "pip install" not in cell.source
        assert "start_consuming()" not in cell.source, "a consume that ends only with Ctrl-C"
        for match in re.finditer(r"queue_declare\(([^)]*)\)", cell.source):
            arguments = match.group(1)
            assert any(word in arguments for word in ("durable", "exclusive", "passive")), f"queue_declare({arguments}) must be durable or exclusive"


def test_navigation_cells_are_the_generated_ones():
    navigation = load_tool("update_navigation")
    lessons = [(path, f"{path.name[:2]} · {navigation.title(nbformat.read(path, as_version=4))}") for path in NOTEBOOKS]
    for index, path in enumerate(NOTEBOOKS):
        cells = nbformat.read(path, as_version=4).cells
        expected = navigation.navigation(lessons, index)
        assert navigation.TAG in tags(cells[0]) and navigation.TAG in tags(cells[-1]), f"{path.name}: run make notebooks"
        assert cells[0].source == cells[-1].source == expected, f"{path.name}: navigation is stale, run make notebooks"


def exercises(notebook):
    """The lesson's exercises, laid out as tools/exercises.py reads them (it raises where not)."""
    return load_tool("exercises").exercises(notebook)


def test_exercises_are_laid_out_for_every_edition(notebook):
    found = exercises(notebook)
    cells = notebook.cells
    assert [exercise.number for exercise in found] == list(range(1, len(found) + 1)), "exercises numbered 1, 2, ..."
    for exercise in found:
        learner, check, solution = cells[exercise.learner], cells[exercise.check], cells[exercise.solution]
        assert learner.source.strip(), "the learner's cell names the placeholders the check reads"
        compile(learner.source, "<exercise>", "exec")
        code = load_tool("exercises").solution_code(solution)
        compile(code, "<solution>", "exec")
        assert "check_" not in code, f"the solution of exercise {exercise.number} calls its check itself"
        assert solution.source.startswith("<details>"), "a solution stays collapsed until the learner opens it"
        lines = "".join(o.get("text", "") for o in check.outputs if o.get("name") == "stdout").strip().splitlines()
        assert lines and all(line.startswith("❌") for line in lines), \
            f"exercise {exercise.number}: the stored check output is a Run All with nothing typed, so it shows ❌: {lines!r}"
        assert all(len(line) > 30 for line in lines), f"exercise {exercise.number}: a ❌ gives no next step: {lines!r}"
