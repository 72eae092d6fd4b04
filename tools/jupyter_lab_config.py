# JupyterLab settings for `make lab` and `make workshop` (passed with --config).
# A terminal opened in the lab starts bash with tools/lab_terminal.bashrc, which puts the course's
# Python first on PATH after the learner's own ~/.bashrc has run.
import os
import shutil
from pathlib import Path

c = get_config()  # noqa: F821 - given by Jupyter when it reads this file

if shutil.which("bash"):
    rcfile = Path(__file__).resolve().parent / "lab_terminal.bashrc"
    c.ServerApp.terminado_settings = {"shell_command": ["bash", "--rcfile", str(rcfile), "-i"]}
os.environ.setdefault("COURSE_VENV", str(Path(__file__).resolve().parent.parent / ".venv"))
