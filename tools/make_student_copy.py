"""Student copies of the lessons, for workshops: every solution cell is emptied but for its check.

    python tools/make_student_copy.py        # writes student/NN_*.ipynb (and student/scripts)

A solution cell (tagged "solution") keeps its imports and its final ``check_...`` lines, with
a line for the learner's code in place of the rest; outputs are cleared. The lessons in
notebooks/ stay the one source: the copies are made anew each time and not stored in git.
"""

import shutil
from pathlib import Path

import nbformat

PROJECT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "# Your code here"


def student_source(source):
    lines = source.splitlines()
    imports = [line for line in lines if line.startswith(("from helpers.checks import", "import "))]
    checks = [line for line in lines if line.startswith("check_")]
    return "\n".join([*imports, *([""] if imports else []), PLACEHOLDER, "", *checks])


def student_copy(notebook):
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if "solution" in cell.metadata.get("tags", []):
            cell.source = student_source(cell.source)
            cell.metadata["tags"] = [tag for tag in cell.metadata["tags"] if tag != "solution"]
        cell.outputs = []
        cell.execution_count = None
    return notebook


def main(target=PROJECT / "student"):
    target.mkdir(exist_ok=True)
    for path in sorted((PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nbformat.write(student_copy(nbformat.read(path, as_version=4)), target / path.name)
    shutil.copytree(PROJECT / "notebooks" / "scripts", target / "scripts", dirs_exist_ok=True)
    print(f"Student copies written to {target}/ (solutions removed, outputs cleared).")


if __name__ == "__main__":
    main()
