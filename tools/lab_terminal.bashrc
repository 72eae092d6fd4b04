# The shell of a terminal opened in the course's JupyterLab (make lab): the learner's own settings
# first, then the course's Python in front of PATH, so that `python scripts/worker.py` runs with the
# course's packages even where ~/.bashrc puts pyenv, conda or another Python first.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
if [ -n "${COURSE_VENV:-}" ] && [ -x "$COURSE_VENV/bin/python" ]; then
  export VIRTUAL_ENV="$COURSE_VENV"
  export PATH="$COURSE_VENV/bin:$PATH"
  hash -r
fi
