"""The workshop edition (``make student``): made from the cells' structure, it keeps every
exercise's learner cell and check and drops the solutions; every cell parses; and every lesson
runs top to bottom with nothing typed, against the real broker, with no traceback and a ❌ with
a hint from each exercise's check."""

import ast
import importlib.util
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
from nbclient import NotebookClient

TOOL = Path(__file__).resolve().parent.parent / "tools" / "make_student_copy.py"
spec = importlib.util.spec_from_file_location("make_student_copy", TOOL)
make_student_copy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student_copy)

LESSONS = make_student_copy.lesson_paths()


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    return make_student_copy.main(tmp_path_factory.mktemp("edition") / "student")


def cell(source, *cell_tags):
    made = nbformat.v4.new_code_cell(source)
    made.metadata["tags"] = list(cell_tags)
    return made


def test_solutions_are_dropped_and_the_rest_stays():
    given = cell('lesson.clean(queues=["q"])')
    learner = cell("received = None  # your code here", "exercise")
    solution = cell('received = drain(channel, "q")', "solution")
    solution.outputs = [nbformat.v4.new_output("stream", text="")]
    check = cell("check_received(received)")
    check.outputs = [nbformat.v4.new_output("stream", text="✅ ok\n")]
    check.execution_count = 7
    notebook = make_student_copy.student_copy(nbformat.v4.new_notebook(cells=[given, learner, solution, check]))
    assert [c.source for c in notebook.cells] == [given.source, learner.source, check.source]
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells)


def test_the_edition_lands_inside_the_lab_and_links_still_resolve(edition):
    assert make_student_copy.DEFAULT_TARGET.parent == make_student_copy.NOTEBOOKS  # `make lab` opens notebooks/
    assert sorted(path.name for path in edition.glob("*.ipynb")) == sorted([path.name for path in LESSONS] + ["index.ipynb"])
    assert (edition / "scripts" / "worker.py").is_file()
    for path in edition.glob("*.ipynb"):
        for markdown in nbformat.read(path, as_version=4).cells:
            for target in (part.split(")")[0] for part in markdown.source.split("](")[1:]):
                if target.startswith(("http", "#")) or "://" in target:
                    continue
                assert (edition / target.split("#")[0]).exists(), f"{path.name}: a link to {target} leads nowhere"


def test_every_cell_of_the_edition_parses(edition):
    for path in sorted(edition.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        assert not [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
        for index, code in enumerate(c for c in notebook.cells if c.cell_type == "code"):
            source = "\n".join(line for line in code.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                ast.parse(source)
            except SyntaxError as error:
                pytest.fail(f"{path.name}, code cell {index}: {error.msg} (line {error.lineno})")


def outputs_text(code):
    return "".join(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")) for o in code.outputs)


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.name for path in LESSONS])
def test_each_lesson_runs_with_nothing_typed_and_every_check_says_what_is_missing(edition, lesson):
    path = edition / lesson.name
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=180, kernel_name=NATIVE_KERNEL_NAME, allow_errors=True,
                            resources={"metadata": {"path": str(edition)}})
    client.execute()
    for code in (c for c in notebook.cells if c.cell_type == "code"):
        errors = [o for o in code.outputs if o.output_type == "error"]
        expected = "raises-exception" in code.metadata.get("tags", []) or "NBVAL_RAISES_EXCEPTION" in code.source
        assert expected or not errors, f"{lesson.name}: a traceback in the cell {code.source[:80]!r}: {errors[:1]}"
    cells = notebook.cells
    checks = [cells[index + 1] for index, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    assert checks, f"{lesson.name} has no exercise"
    for check in checks:
        text = outputs_text(check)
        assert "❌" in text and "✅" not in text, f"{lesson.name}: with nothing typed, {check.source[:60]!r} said {text!r}"
        hint = text.split("❌", 1)[1].strip()
        assert len(hint) > 20, f"{lesson.name}: the ❌ of {check.source[:60]!r} gives no next step: {text!r}"
