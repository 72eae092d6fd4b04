"""Re-run lessons top to bottom and store their outputs in normal form (``make notebooks``).

    python tools/run_notebooks.py notebooks/*.ipynb

Each notebook runs in a fresh kernel from this environment, from its own folder, like a learner's
Run All. Then the metadata is reduced to what the course keeps (the kernel and the language
name; cell tags), so the stored file does not change with who ran it or when.
"""

import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
from nbclient import NotebookClient

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
KEPT_CELL_METADATA = ("tags",)


def normalize(notebook):
    """Keep only the metadata the course stores; return the notebook."""
    notebook.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell in notebook.cells:
        cell.metadata = nbformat.from_dict({key: cell.metadata[key] for key in KEPT_CELL_METADATA if key in cell.metadata})
    return notebook


def run_notebook(path, timeout=300):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name=NATIVE_KERNEL_NAME, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.validate(normalize(notebook))
    nbformat.write(notebook, path)


def main(paths):
    for name in paths:
        path = Path(name)
        started = time.monotonic()
        run_notebook(path)
        print(f"{path}: ran in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    if not sys.argv[1:] or sys.argv[1] in ("-h", "--help"):
        sys.exit(print(__doc__.strip()))
    main(sys.argv[1:])
