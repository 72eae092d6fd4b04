"""A lesson that operates its broker, run by a workshop's attendee (helpers/ops/own_node.py): on a
node of the attendee's own where one can start, its checks still on the room's board, the room's
broker never restarted; in one sentence where none can."""

import sys

import nbformat
import pytest
from lesson_kernels import PROJECT, exercises, run_in_kernel

from helpers.config import on_own_node, settings
from helpers.errors import CourseError
from helpers.management import management_api
from helpers.ops import broker, classroom, own_node
from helpers.waiting import poll, wait_until



def no_rabbitmq_package():
    raise CourseError("No Docker engine and no RabbitMQ package here.")


def test_outside_a_workshop_a_lesson_stays_on_the_course_broker(monkeypatch):
    monkeypatch.delenv("COURSE_CLASSROOM", raising=False)
    before = settings()
    assert own_node.use_own_node("restarts its broker") is None
    assert settings() == before and not on_own_node()


def test_where_no_node_can_start_one_sentence_says_so_and_the_shared_broker_is_never_restarted(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CLASSROOM", "room")
    monkeypatch.setattr(broker, "install_server_package", no_rabbitmq_package)
    before = settings()
    with pytest.raises(CourseError) as refused:
        own_node.use_own_node("restarts its broker")
    message = str(refused.value)
    assert message.startswith("This lesson restarts its broker") and broker.install_command() in message
    assert message.endswith("go on with the next lesson.") and message.count(". ") == 0   # one sentence

    assert own_node.use_own_node("restarts its broker in the fault drill", required=False) is None
    said = capsys.readouterr().out
    assert "the drill is the instructor's to show" in said and said.count(". ") == 0
    assert settings() == before
    with pytest.raises(CourseError, match="the whole room shares"):
        broker.restart()


@pytest.fixture
def room():
    """A class of one on the test worker's node (the room's broker); deleted after."""
    (attendee,) = classroom.create(classroom.attendees_from("own", count=1), "own")
    yield attendee
    classroom.reset("own")


def test_lesson_06_runs_on_the_attendees_own_node_and_the_board_shows_its_exercises(room, tmp_path, monkeypatch):
    folder = classroom.write_files([room], "own", folder=tmp_path)
    api = management_api(timeout=10)
    room_node = broker.LocalNode().pid()
    notebook, _ = exercises.solution_edition(nbformat.read(PROJECT / "notebooks" / "06_durability.ipynb", as_version=4))
    own = broker.settings_on_ports(settings().amqp_port + own_node.PORT_SHIFT, 0, 0)
    run_in_kernel(notebook, monkeypatch, folder / "attendee-01.env", timeout=300)
    said = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert f"it runs on a broker of your own, started here on port {own.amqp_port}" in said

    assert broker.LocalNode().pid() == room_node, "the room's broker was not restarted"
    records = classroom.read_progress(api, [room.account])
    table = classroom.grid(records, classroom.exercise_index(), [room.account])
    assert table.loc[room.account, ["06.1", "06.2"]].tolist() == ["✅", "✅"]
    assert not [queue["name"] for queue in api.get(f"queues/{room.account}") if queue["name"] != "course.progress"]
    wait_until(lambda: not broker.port_is_open("127.0.0.1", own.amqp_port), "the attendee's node to stop with its kernel",
               timeout=45)


def test_lesson_16_without_a_node_of_its_own_runs_its_exercises_on_the_room_and_refuses_only_the_drill(room, tmp_path,
                                                                                                    monkeypatch):
    folder = classroom.write_files([room], "own", folder=tmp_path)
    source = nbformat.read(PROJECT / "notebooks" / "16_capstone.ipynb", as_version=4)
    notebook, _ = exercises.solution_edition(source)
    found = exercises.exercises(source)
    drill = next(index for index, cell in enumerate(notebook.cells) if "broker.restart()" in cell.source)
    solutions = notebook.cells[len(notebook.cells) - 3 * len(found):]
    no_package = nbformat.v4.new_code_cell(   # a laptop where RabbitMQ cannot be installed
        "from helpers.errors import CourseError\nfrom helpers.ops import broker\n\n\ndef no_package():\n"
        "    raise CourseError('No Docker engine and no RabbitMQ package here.')\n\n\n"
        "broker.install_server_package = no_package")
    notebook.cells = [no_package, *notebook.cells[:drill + 1], *solutions]
    run_in_kernel(notebook, monkeypatch, folder / "attendee-01.env", allow_errors=True, timeout=300)
    errors = {index: output for index, cell in enumerate(notebook.cells) for output in cell.get("outputs", [])
              if output["output_type"] == "error"}
    assert list(errors) == [drill + 1] and "which the whole room shares" in errors[drill + 1]["evalue"]
    said = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "the exercises run on the room's broker, and the drill is the instructor's to show" in said

    api = management_api(timeout=10)
    table = classroom.grid(classroom.read_progress(api, [room.account]), classroom.exercise_index(), [room.account])
    assert table.loc[room.account, ["16.1", "16.2", "16.3"]].tolist() == ["✅", "✅", "✅"]
    assert not broker.port_is_open("127.0.0.1", settings().amqp_port + own_node.PORT_SHIFT)   # no node of its own


KERNEL = """
import sys, time
from helpers.ops.own_node import use_own_node
use_own_node("restarts its broker")
print("moved", flush=True)
time.sleep(600)
"""


def test_two_notebooks_share_the_attendees_node_and_it_stops_after_the_last(monkeypatch):
    import os
    import subprocess

    monkeypatch.setenv("COURSE_CLASSROOM", "own")
    own_port = settings().amqp_port + own_node.PORT_SHIFT
    kernels = []
    try:
        for _ in range(2):
            kernel = subprocess.Popen([sys.executable, "-c", KERNEL], cwd=PROJECT, stdout=subprocess.PIPE, text=True,
                                      env=dict(os.environ))
            kernels.append(kernel)
            said = kernel.stdout.readline() + kernel.stdout.readline()
            assert "moved" in said, said
        assert "already running for another notebook" in said and broker.port_is_open("127.0.0.1", own_port)
        kernels[0].kill()
        kernels[0].wait()
        assert not poll(lambda: not broker.port_is_open("127.0.0.1", own_port), 5), "the second still uses it"
    finally:
        for kernel in kernels:
            kernel.kill()
            kernel.wait()
    wait_until(lambda: not broker.port_is_open("127.0.0.1", own_port), "the node to stop after the last kernel",
               timeout=45)
