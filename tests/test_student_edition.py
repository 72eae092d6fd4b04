"""The workshop edition (``make student``): made from the cells' structure, it keeps every
exercise's learner cell and check and drops the solutions; every cell parses; and its code is
the lesson's code, cell for cell, so the lesson's strict nbval run (nothing typed, every check
answering ❌ with a hint) is the edition's run too."""

import ast
import importlib.util
from pathlib import Path

import nbformat
import pytest

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
    check = cell("check_received(received)")
    check.outputs = [nbformat.v4.new_output("stream", text="❌ nothing yet\n")]
    check.execution_count = 7
    solution = nbformat.v4.new_markdown_cell("<details>\n\n```python\nreceived = drain(channel, 'q')\n```\n\n</details>")
    solution.metadata["tags"] = ["solution"]
    notebook = make_student_copy.student_copy(nbformat.v4.new_notebook(cells=[given, learner, check, solution]))
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


def test_the_edition_is_the_lesson_without_its_solutions(edition):
    """So it runs as the lesson does: strict nbval runs each lesson with nothing typed and its
    stored outputs show every check's ❌ (tests/lesson_exercises.py then runs the solutions)."""
    for lesson in LESSONS:
        original = nbformat.read(lesson, as_version=4)
        copy = nbformat.read(edition / lesson.name, as_version=4)
        kept = [c for c in original.cells if "solution" not in c.metadata.get("tags", [])]
        assert [c.source for c in copy.cells if c.cell_type == "code"] == [c.source for c in kept if c.cell_type == "code"]
        assert len(copy.cells) == len(kept) and not any(c.get("outputs") for c in copy.cells)
