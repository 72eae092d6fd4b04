"""Write the navigation cells (previous / all lessons / next) at the top and bottom of every
lesson, and the contents page ``notebooks/index.ipynb`` they link to.

    python tools/update_navigation.py

The cells are tagged "navigation" and rewritten in place from the lessons' file names and H1
titles, so they are never edited by hand. The contents page is a notebook of one markdown cell
inside the folder JupyterLab opens, so "All lessons" opens rendered in the lab (a link to the
project's README would leave the lab's root and give a 404). ``make notebooks`` runs this
before the lessons.
"""

import re
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
INDEX = NOTEBOOKS / "index.ipynb"
TAG = "navigation"


def title(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return "(untitled)"


def navigation(lessons, index):
    parts = []
    if index > 0:
        path, name = lessons[index - 1]
        parts.append(f"◀ [{name}]({path.name})")
    parts.append(f"[All lessons]({INDEX.name})")
    if index + 1 < len(lessons):
        path, name = lessons[index + 1]
        parts.append(f"[{name}]({path.name}) ▶")
    return " · ".join(parts)


def time_to_complete(notebook):
    for cell in notebook.cells:
        match = re.search(r"\*\*Time:\*\* ([^·\n]+)", cell.source)
        if match:
            return match.group(1).strip()
    return ""


def contents(lessons, notebooks):
    """The contents page's one markdown cell, from the lessons themselves."""
    rows = "\n".join(f"| [{name}]({path.name}) | {time_to_complete(notebooks[path])} |" for path, name in lessons)
    return (
        "# RabbitMQ, hands on: the lessons\n\n"
        "Start with lesson 00 and go in order: each lesson builds on the ones before it. Every lesson runs\n"
        "live against the course's broker; *Run All* works twice in a row.\n\n"
        f"| lesson | time |\n|---|---|\n{rows}\n\n"
        "- **Exercises**: write your answer in the cell under the exercise, then run the check below it. The\n"
        "  solution is the collapsed cell in between (click the bar beside it to open it): try first.\n"
        "- **Workshop edition** (no solutions): `make workshop` builds it in `student/` and opens it.\n"
        "- **Instructor notes** for each lesson are in `instructor/`.\n"
        "- **The guide's scripts** are in `scripts/`: in a JupyterLab terminal (*File → New → Terminal*),\n"
        "  `cd notebooks` (if the terminal starts elsewhere) and `python scripts/worker.py`.\n"
    )


def write_index(lessons, notebooks, path=INDEX):
    text = contents(lessons, notebooks)
    index = nbformat.read(path, as_version=4) if path.exists() else nbformat.v4.new_notebook()
    if len(index.cells) == 1 and index.cells[0].source == text:
        return
    cell = nbformat.v4.new_markdown_cell(text)
    if index.cells:
        cell["id"] = index.cells[0]["id"]
    index.cells = [cell]
    index.metadata = nbformat.from_dict({"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                                         "language_info": {"name": "python"}})
    nbformat.write(index, path)


def nav_cell(text):
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [TAG]
    return cell


def main():
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    notebooks = {path: nbformat.read(path, as_version=4) for path in paths}
    lessons = [(path, f"{path.name[:2]} · {title(notebooks[path])}") for path in paths]
    for index, path in enumerate(paths):
        notebook = notebooks[path]
        text = navigation(lessons, index)
        cells = [cell for cell in notebook.cells if TAG not in cell.metadata.get("tags", [])]
        old = [cell for cell in notebook.cells if TAG in cell.metadata.get("tags", [])]
        top, bottom = nav_cell(text), nav_cell(text)
        for cell, previous in zip((top, bottom), old[:1] + old[-1:]):
            cell["id"] = previous["id"]  # the same ids as before, so a re-run changes nothing
        notebook.cells = [top, *cells, bottom]
        nbformat.write(notebook, path)
    write_index(lessons, notebooks)


if __name__ == "__main__":
    main()
