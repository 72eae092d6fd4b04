"""The workshop (student) edition of the lessons: every exercise without its solution.

    python tools/make_student_copy.py            # writes notebooks/student/NN_*.ipynb and scripts/
    python tools/make_student_copy.py DIR        # writes the edition into DIR instead

It is made from the cells' structure, never by editing lines (tools/exercises.py describes the
layout of an exercise). The edition drops the cells tagged "solution" (each a collapsed block of
code to read) and clears every output; every code cell stays, so it runs exactly as the lesson
does with nothing typed, and each check answers ❌ with a hint. The lessons in notebooks/ stay the
one source: the edition is made anew each time and is not stored in git.
It lands in notebooks/student/, inside the folder that ``make lab`` opens (``make workshop``
opens it directly).
"""

import argparse
import shutil
from pathlib import Path

import nbformat

PROJECT = Path(__file__).resolve().parent.parent
NOTEBOOKS = PROJECT / "notebooks"
DEFAULT_TARGET = NOTEBOOKS / "student"
SOLUTION, EXERCISE = "solution", "exercise"
NOTE = ("*Workshop edition: the solutions are not in this copy. Write your answer in the cell under each "
        "exercise, then run the check below it.*")


def tags(cell):
    return cell.metadata.get("tags", [])


def student_copy(notebook, depth=1):
    """The notebook without its solution cells, outputs cleared; ``depth`` is how many folders
    below notebooks/ the copy lives (links that leave the lessons' folder are adjusted)."""
    cells = []
    for cell in notebook.cells:
        if SOLUTION in tags(cell):
            continue
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif "](../" in cell.source:
            cell.source = cell.source.replace("](../", "](" + "../" * (depth + 1))
        cells.append(cell)
    notebook.cells = cells
    first_text = next((cell for cell in cells if cell.cell_type == "markdown" and cell.source.startswith("# ")), None)
    if first_text is not None:
        first_text.source = first_text.source.replace("\n", f"\n\n{NOTE}\n", 1) if "\n" in first_text.source else f"{first_text.source}\n\n{NOTE}"
    return notebook


def lesson_paths():
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def main(target=DEFAULT_TARGET):
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        depth = len(target.relative_to(NOTEBOOKS).parts)
    except ValueError:
        depth = 1
    for path in lesson_paths():
        nbformat.write(student_copy(nbformat.read(path, as_version=4), depth=depth), target / path.name)
    index = NOTEBOOKS / "index.ipynb"
    if index.exists():
        nbformat.write(student_copy(nbformat.read(index, as_version=4), depth=depth), target / index.name)
    shutil.copytree(NOTEBOOKS / "scripts", target / "scripts", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shown = target.relative_to(PROJECT) if target.is_relative_to(PROJECT) else target
    print(f"Workshop edition written to {shown}/ ({len(lesson_paths())} lessons, solutions removed, outputs cleared).")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python tools/make_student_copy.py",
                                     description="Write the workshop edition: every lesson without its solutions.")
    parser.add_argument("target", nargs="?", default=str(DEFAULT_TARGET),
                        help="the folder to write it to (default: notebooks/student)")
    main(parser.parse_args().target)
