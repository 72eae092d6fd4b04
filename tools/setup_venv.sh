#!/bin/sh
# Creates the course's virtual environment with the pinned packages and the helpers package.
# Called by the Makefile; safe to run again.
set -eu
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON was not found. Install Python 3.11 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv; macOS: brew install python)." >&2
  exit 1
fi
# 3.11: the pinned IPython and pandas need it.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: the course needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1). Run: make PYTHON=python3.11 ..." >&2
  exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing python3-venv (Debian's venv module)..."
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
  else
    echo "error: Python's venv module is missing. Install it: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi

echo "Setting up the course's Python environment in $VENV (a minute the first time)..."
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .
# Matplotlib builds its font cache on first import and says so on stderr: do it now, not in a lesson.
"$VENV/bin/python" -c "import matplotlib.pyplot" 2>/dev/null
# JupyterLab: no news or update pop-ups in a workshop (and no calls to the internet for them).
mkdir -p "$VENV/share/jupyter/lab/settings"
cat > "$VENV/share/jupyter/lab/settings/overrides.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}
}
JSON
echo "Python environment ready."
