"""Every lesson's solutions, run where a learner would run them: in the learner's cell.

The solution edition (tools/exercises.py) is the lesson as a learner meets it: a Run All with
nothing typed (each check must say ❌ and what to do), then, after the lesson's last cell (which
cleans up and closes the lesson's connection), each exercise done again: its given cell, the
solution typed into the learner's cell, its check (✅). So each test proves, inside the lesson's
own kernel: the solution passes its check, the empty answer does not, a second try after a
wrong one works, and each exercise's given cell makes all that the exercise needs. The lesson itself, as stored, is
checked by strict nbval (its checks' stored outputs are the ❌ of a Run All with nothing typed).
"""

import nbformat
import pytest
from lesson_kernels import NOTEBOOKS, exercises, run_in_kernel

LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def printed(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.get("name") == "stdout")


def tracebacks(cell):
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.name for path in LESSONS])
def test_each_exercise_fails_empty_then_passes_with_its_solution(lesson):
    notebook, expected = exercises.solution_edition(nbformat.read(lesson, as_version=4))
    run_in_kernel(notebook, allow_errors=True)
    for cell in (c for c in notebook.cells if c.cell_type == "code"):
        meant_to_raise = "raises-exception" in cell.metadata.get("tags", []) or "NBVAL_RAISES_EXCEPTION" in cell.source
        assert meant_to_raise or not tracebacks(cell), f"{lesson.name}: a traceback in {cell.source[:80]!r}: {tracebacks(cell)}"
    for check, verdict, exercise in expected:
        lines = printed(check).strip().splitlines()
        attempt = "with nothing typed" if verdict == "❌" else "done after the lesson's last cell, with its solution"
        assert lines and all(line.startswith(verdict) for line in lines), \
            f"{lesson.name}, exercise {exercise.number} {attempt}: the check said {lines!r}, not {verdict}"
        if verdict == "❌":
            assert all(len(line) > 30 for line in lines), f"{lesson.name}, exercise {exercise.number}: a ❌ gives no next step: {lines!r}"
