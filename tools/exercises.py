"""How an exercise is laid out in a lesson, for the tools and tests that read it.

Every exercise is these cells, in this order (see tools/README.md):

    *Exercise N.* prompt     markdown: what to do, and what the check reads
    given                    code, untagged: the exercise's data, and a clean state (a fresh
                             channel, ``channel = lesson.new_channel()``, since a wrong answer may
                             have closed the old one; deletes what an earlier try left; makes or
                             starts what the exercise needs), so that a second try works, after the
                             lesson's last cell too, and the exercise depends on no other
    (markdown, optional)     e.g. a note on the given data
    the learner's cell       code, tag "exercise": named placeholders that run as they are
    the check                code, untagged: the whole check_...(...) call, right under the
                             learner's cell, so nothing the learner did not write runs between them
    the solution             markdown, tag "solution": the code in a collapsed <details> block,
                             read on request and never run (Run All cannot run it)

One source gives three editions: the lesson itself (its stored outputs are a Run All with nothing
typed: each check's ❌ and hint), the workshop edition (the solution cells dropped;
tools/make_student_copy.py) and, for the tests only, the solution edition (a Run All with
nothing typed, then each exercise done again after the lesson's last cell, with its solution in
the learner's cell: ``solution_edition``).
"""

import copy
import re
from dataclasses import dataclass

import nbformat

EXERCISE, SOLUTION = "exercise", "solution"
PROMPT = re.compile(r"^\*Exercise (\d+)\.\*", re.MULTILINE)
SUMMARY = "Solution: open it after you have tried (to run it, copy it into your cell above the check)"
FENCED = re.compile(r"```python\n(.*?)\n```", re.DOTALL)


def tags(cell):
    return cell.metadata.get("tags", [])


def solution_markdown(code):
    """The text of a solution cell: the code, collapsed until the learner opens it."""
    return f"<details><summary>{SUMMARY}</summary>\n\n```python\n{code.strip()}\n```\n\n</details>"


def solution_code(cell):
    """The code of a solution cell (raises ValueError if the cell holds none)."""
    match = FENCED.search(cell.source)
    if cell.cell_type != "markdown" or not match:
        raise ValueError(f"a solution cell holds no ```python block: {cell.source[:60]!r}")
    return match.group(1)


@dataclass
class Exercise:
    number: int
    prompt: int  # the cells' indexes in the notebook
    given: int
    learner: int
    check: int
    solution: int


class LayoutError(ValueError):
    pass


def exercises(notebook):
    """The lesson's exercises, in order; raises LayoutError where the layout above is broken."""
    cells = notebook.cells
    found = []
    for learner, cell in enumerate(cells):
        if EXERCISE not in tags(cell):
            continue
        where = f"the learner's cell {cell.source[:50]!r}"
        if cell.cell_type != "code":
            raise LayoutError(f"{where} is not a code cell")
        prompt = next((i for i in range(learner - 1, -1, -1)
                       if cells[i].cell_type == "markdown" and PROMPT.search(cells[i].source)), None)
        if prompt is None:
            raise LayoutError(f"{where} has no '*Exercise N.*' prompt above it")
        given = [i for i in range(prompt + 1, learner) if cells[i].cell_type == "code"]
        if len(given) != 1 or tags(cells[given[0]]):
            raise LayoutError(f"{where}: between its prompt and it, one untagged code cell (the given data "
                              f"and clean state), found {len(given)}")
        check, solution = learner + 1, learner + 2
        if solution >= len(cells):
            raise LayoutError(f"{where} is not followed by a check and a solution")
        if cells[check].cell_type != "code" or tags(cells[check]) or "check_" not in cells[check].source:
            raise LayoutError(f"{where} is not followed by its check cell (untagged, calling check_...)")
        if SOLUTION not in tags(cells[solution]):
            raise LayoutError(f"{where}: the cell after its check is not the solution (tag 'solution')")
        try:
            solution_code(cells[solution])
        except ValueError as error:
            raise LayoutError(f"{where}: {error}") from None
        number = int(PROMPT.search(cells[prompt].source).group(1))
        found.append(Exercise(number, prompt, given[0], learner, check, solution))
    solutions = [i for i, cell in enumerate(cells) if SOLUTION in tags(cell)]
    if solutions != [exercise.solution for exercise in found]:
        raise LayoutError("a solution cell that belongs to no exercise")
    return found


def solution_edition(notebook):
    """For the tests: the lesson as a learner meets it. First a Run All with nothing typed (each
    check must say ❌), to the lesson's last cell (which cleans up and closes its connection); then
    each exercise done after that, as a learner does after a Run All: its given cell again, the
    solution in the learner's cell, its check (✅). So each exercise's given cell must make all
    that the exercise needs, whatever ran before. Returns the notebook and, for each check cell
    in it, the verdict it must print: ``[(cell, "❌" or "✅", exercise), ...]``."""
    notebook = copy.deepcopy(notebook)
    found = exercises(notebook)
    by_check = {exercise.check: exercise for exercise in found}
    solutions = {exercise.solution for exercise in found}
    cells, expected = [], []
    for index, cell in enumerate(notebook.cells):
        if index in solutions:
            continue  # read, never run
        cells.append(cell)
        if index in by_check:
            expected.append((cell, "❌", by_check[index]))
    for exercise, (given, answer, again) in done_again(notebook):
        cells += [given, answer, again]
        expected.append((again, "✅", exercise))
    notebook.cells = cells
    return notebook, expected


def done_again(notebook):
    """Each exercise done again, as a learner does after a Run All: ``[(exercise, [given cell, the
    solution typed into the learner's cell, the check]), ...]``, new cells, never run (no outputs)."""
    done = []
    for exercise in exercises(notebook):
        answer = nbformat.v4.new_code_cell(solution_code(notebook.cells[exercise.solution]))
        answer.metadata["tags"] = [EXERCISE]
        given, again = (copy.deepcopy(notebook.cells[index]) for index in (exercise.given, exercise.check))
        for cell in (given, again):
            cell.outputs, cell.execution_count = [], None
        done.append((exercise, [given, answer, again]))
    return done
