"""`make lab` as a learner meets it: the lab serves the lessons and their contents page, and a
terminal opened in the lab runs the course's Python, so the command the lessons teach
(`python scripts/worker.py`) works there."""

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from tornado.websocket import websocket_connect

from kernel_ports import free_port

PROJECT = Path(__file__).resolve().parent.parent
TOKEN = "course-test"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port = free_port()
    options = f"--no-browser --ServerApp.port={port} --ServerApp.port_retries=0 --IdentityProvider.token={TOKEN}"
    environment = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV",)}
    venv_bin = str(PROJECT / ".venv" / "bin")  # as a learner's shell: the course's venv is not on PATH
    environment["PATH"] = os.pathsep.join(part for part in environment.get("PATH", "").split(os.pathsep) if part != venv_bin)
    log = tmp_path_factory.mktemp("lab") / "make-lab.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(["make", "-s", "lab", f"LAB_OPTS={options}"], cwd=PROJECT, env=environment,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    stop_at = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/api/status", params={"token": TOKEN}, timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, f"make lab stopped: {log.read_text(errors='replace')[-1500:]}"
        assert time.monotonic() < stop_at, "the lab did not answer within 60 s"
        time.sleep(0.3)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def test_the_all_lessons_link_opens_inside_the_lab(lab):
    page = requests.get(f"{lab}/api/contents/index.ipynb", params={"token": TOKEN}, timeout=10)
    assert page.ok
    text = "".join(cell["source"] for cell in page.json()["content"]["cells"])
    assert "00_set_up_and_check.ipynb" in text and "10_monitoring.ipynb" in text


async def run_in_terminal(lab, command, until, timeout=30):
    made = requests.post(f"{lab}/api/terminals", params={"token": TOKEN}, timeout=10)
    made.raise_for_status()
    name = made.json()["name"]
    socket_url = lab.replace("http", "ws", 1) + f"/terminals/websocket/{name}?token={TOKEN}"
    connection = await websocket_connect(socket_url)
    connection.write_message(json.dumps(["stdin", command + "\r"]))
    seen = ""
    stop_at = time.monotonic() + timeout
    while until not in seen and time.monotonic() < stop_at:
        try:
            message = await asyncio.wait_for(connection.read_message(), timeout=max(0.1, stop_at - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if message is None:
            break
        kind, *payload = json.loads(message)
        if kind == "stdout":
            seen += payload[0]
    connection.close()
    requests.delete(f"{lab}/api/terminals/{name}", params={"token": TOKEN}, timeout=10)
    return seen


def test_a_lab_terminal_runs_the_scripts_with_the_courses_python(lab):
    command = "python -c 'import sys, helpers; print(\"PREFIX=\" + sys.prefix)'; python scripts/worker.py --idle-timeout 1; echo \"EXIT\"=$?"
    seen = asyncio.run(run_in_terminal(lab, command, until="EXIT="))
    assert f"PREFIX={PROJECT / '.venv'}" in seen.replace("\r", ""), seen
    assert "EXIT=0" in seen, seen
