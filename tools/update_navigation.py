"""Write the navigation cells (previous / all lessons / next) at the top and bottom of every lesson.

    python tools/update_navigation.py

The cells are tagged "navigation" and rewritten in place from the lessons' file names and H1
titles, so they are never edited by hand. ``make notebooks`` runs this before the lessons.
"""

import re
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
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
    parts.append("[All lessons](../README.md#the-lessons)")
    if index + 1 < len(lessons):
        path, name = lessons[index + 1]
        parts.append(f"[{name}]({path.name}) ▶")
    return " · ".join(parts)


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


if __name__ == "__main__":
    main()
