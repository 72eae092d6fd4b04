"""A workshop on one shared broker (helpers.ops.classroom), on the test worker's real node: thirty
attendees made, lesson 02 run as three of them in kernels of their own, the board showing exactly
what they did, one attendee refused on another's vhost, and a reset that leaves the broker as it
was before the class."""

import nbformat
import pytest
from lesson_kernels import PROJECT, exercises, run_in_kernel

from helpers.amqp import connect, publish
from helpers.config import read_dotenv, settings
from helpers.errors import CourseError
from helpers.management import ManagementAPI, management_api
from helpers.ops import broker, classroom, prometheus
from helpers.waiting import wait_until


def broker_state(api):
    """What a class must leave as it found it: users, vhosts, permissions, queues."""
    return {"users": sorted(user["name"] for user in api.get("users")),
            "vhosts": sorted(vhost["name"] for vhost in api.get("vhosts")),
            "permissions": sorted((grant["user"], grant["vhost"]) for grant in api.get("permissions")),
            "queues": sorted((queue["vhost"], queue["name"]) for queue in api.get("queues"))}


def lesson_02_as(env_file, monkeypatch, solved):
    """Run lesson 02 in a kernel started with an attendee's .env: a Run All with nothing typed
    (each check ❌), then the solutions of the exercises numbered in ``solved`` (each ✅)."""
    notebook, _ = exercises.solution_edition(nbformat.read(PROJECT / "notebooks" / "02_hello_queue.ipynb", as_version=4))
    found = exercises.exercises(nbformat.read(PROJECT / "notebooks" / "02_hello_queue.ipynb", as_version=4))
    kept = len(notebook.cells) - 3 * len(found)   # the Run All; then three cells an exercise done again
    for number in range(len(found), 0, -1):
        if number not in solved:
            del notebook.cells[kept + 3 * (number - 1): kept + 3 * number]
    run_in_kernel(notebook, monkeypatch, env_file)


@pytest.fixture
def api():
    api = management_api(timeout=10)
    before = broker_state(api)
    yield api
    classroom.reset("room")
    assert broker_state(api) == before, "reset left the broker as it was before the class"


def test_thirty_attendees_and_the_board_shows_exactly_what_three_of_them_did(api, tmp_path, monkeypatch):
    people = classroom.create(classroom.attendees_from("room", count=30), "room")
    folder = classroom.write_files(people, "room", folder=tmp_path)
    assert len(classroom.class_vhosts(api, "room")) == 30 and len(list(folder.glob("*.env"))) == 30
    done, stuck, halfway = people[0], people[1], people[2]
    lesson_02_as(folder / "attendee-01.env", monkeypatch, solved={1, 2})
    lesson_02_as(folder / "attendee-02.env", monkeypatch, solved=set())
    lesson_02_as(folder / "attendee-03.env", monkeypatch, solved={1})

    accounts = [vhost["name"] for vhost in classroom.class_vhosts(api, "room")]
    records = classroom.read_progress(api, accounts)
    table = classroom.grid(records, classroom.exercise_index(), accounts)
    exercise_columns = [column for column in table.columns if column != "stuck (min)"]
    assert table.loc[done.account, ["02.1", "02.2"]].tolist() == ["✅", "✅"]
    assert table.loc[stuck.account, ["02.1", "02.2"]].tolist() == ["❌", "❌"]
    assert table.loc[halfway.account, ["02.1", "02.2"]].tolist() == ["✅", "❌"]
    others = table.drop(index=[done.account, stuck.account, halfway.account])
    assert (others[exercise_columns] == "").all().all() and (others["stuck (min)"] == 0).all()
    assert (table[[column for column in exercise_columns if not column.startswith("02.")]] == "").all().all()
    assert table.loc[done.account, "stuck (min)"] == 0 and table.loc[stuck.account, "stuck (min)"] > 0
    longest = [line for line in classroom.board_text(table).splitlines() if "stuck longest" in line]
    assert len(longest) == 1 and longest[0].startswith(stuck.account)
    assert set(records["attendee"]) == {done.account, stuck.account, halfway.account}   # each recorded as themselves
    html = classroom.board_html(table)
    style, row = html.split("</style>")[0], list(table.index).index(stuck.account)
    assert f"stuck longest: {stuck.account}" in html and "background-color: #f8d7da" in style
    assert style.count("_row") == len(table.columns) and style.count(f"_row{row}_") == len(table.columns)   # that row only
    shown = classroom.show_board("room", seconds=0)   # the notebook's board reads the same
    assert shown.drop(columns="stuck (min)").equals(table.drop(columns="stuck (min)"))

    exported = tmp_path / "results.csv"
    assert classroom.export(exported, "room") == len(records) == 9   # ❌ ❌ ✅ ✅ | ❌ ❌ | ❌ ❌ ✅: one line each
    assert exported.read_text().count("attendee-01,02.1,✅") == 1


def test_an_attendee_is_refused_on_another_attendees_vhost(api):
    mine, theirs = classroom.create(classroom.attendees_from("room", count=2), "room")
    current = settings()
    own_url = current.amqp_url.split("@")[1].split("/")[0]
    with connect(url=f"amqp://{mine.account}:{mine.password}@{own_url}/{mine.account}") as connection:
        assert connection.is_open   # their own vhost: allowed
    with pytest.raises(CourseError):
        connect(url=f"amqp://{mine.account}:{mine.password}@{own_url}/{theirs.account}")
    as_them = ManagementAPI(current.management_url, mine.account, mine.password, vhost=theirs.account)
    with pytest.raises(CourseError):
        as_them.queue_list()
    as_me = ManagementAPI(current.management_url, mine.account, mine.password, vhost=mine.account)
    assert [vhost["name"] for vhost in as_me.get("vhosts")] == [mine.account]   # the others are not even listed
    assert as_me.queue_list() == []


def test_a_class_that_exists_is_not_made_twice(api):
    classroom.create(classroom.attendees_from("room", count=1), "room")
    with pytest.raises(CourseError, match="reset --class room"):
        classroom.create(classroom.attendees_from("room", count=1), "room")


@pytest.mark.parametrize("names, problem", [
    (["Ada", "ada"], "share the account room-ada"), (["!!!"], "no letter or digit"), ([], "No attendees"),
])
def test_names_that_cannot_make_accounts_are_refused(names, problem):
    with pytest.raises(CourseError, match=problem):
        classroom.attendees_from("room", names=names)


def test_an_attendee_sets_policies_in_their_own_vhost_and_is_told_why_the_node_is_not_theirs(api):
    (me,) = classroom.create(classroom.attendees_from("room", count=1), "room")
    as_me = ManagementAPI(settings().management_url, me.account, me.password, vhost=me.account)
    assert {policy["name"] for policy in as_me.get(as_me.vhost_path("policies"))} == set(broker.COURSE_POLICIES)
    as_me.put(as_me.vhost_path("policies", "mine"),   # lessons 09 and 15 set policies of their own
              {"pattern": "^mine$", "apply-to": "queues", "definition": {"max-length": 5}})
    with pytest.raises(CourseError, match="lacks the tag this needs"):
        as_me.get("nodes")   # not a refused login: the account logged in


def test_an_attendee_never_restarts_or_reconfigures_the_shared_broker(monkeypatch):
    monkeypatch.setenv("COURSE_CLASSROOM", "room")
    with pytest.raises(CourseError, match="the whole room shares"):
        broker.restart()
    with pytest.raises(CourseError, match="the whole room shares"):
        broker.shut_down()
    for change in (lambda: broker.changed_settings(consumer_timeout=5000), broker.memory_alarm):
        with pytest.raises(CourseError, match="the whole room shares"):
            with change():
                pass


def test_prometheus_depths_are_those_of_the_course_vhost_when_others_have_the_same_queue(api):
    (other,) = classroom.create(classroom.attendees_from("room", count=1), "room")
    address = settings().amqp_url.split("@")[1].split("/")[0]
    try:
        for url, count in ((None, 1), (f"amqp://{other.account}:{other.password}@{address}/{other.account}", 3)):
            with connect(url=url) as connection:
                channel = connection.channel()
                channel.queue_declare("twin", durable=True)
                for number in range(count):
                    publish(channel, "twin", f"message {number}", persistent=True)
        wait_until(lambda: prometheus.queue_depths().get("twin") == 1, "Prometheus to show the course vhost's twin",
                   timeout=20, seen=lambda: prometheus.queue_depths().get("twin"))
    finally:
        with connect() as connection:
            connection.channel().queue_delete("twin")


# -- lessons 00 and 10 as an attendee: node-wide figures they may not see -------------------------
NODE_WIDE = "the node-wide figures are the instructor's to show"


def solution_edition_as(lesson, env_file, monkeypatch):
    """Run a lesson's solution edition (a Run All with nothing typed, then each exercise with its
    solution: tools/exercises.py) in a kernel started with an attendee's .env, every cell run even
    after an error; returns the notebook and the verdict each check cell must print."""
    notebook, expected = exercises.solution_edition(nbformat.read(PROJECT / "notebooks" / lesson, as_version=4))
    run_in_kernel(notebook, monkeypatch, env_file, allow_errors=True)
    return notebook, expected


def outputs_of(cell):
    """What a cell showed: its printed text, its results as text, and its errors."""
    shown = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            shown.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            shown.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            shown.append(f"{output.ename}: {output.evalue}")
    return "".join(shown)


def unexpected_errors(notebook):
    """Each code cell that errored without being meant to (the lesson's NBVAL_RAISES_EXCEPTION cells are)."""
    return [f"{cell.source.splitlines()[0]!r}: {outputs_of(cell)}" for cell in notebook.cells
            if cell.cell_type == "code" and any(output.output_type == "error" for output in cell.outputs)
            and "raises-exception" not in cell.metadata.get("tags", [])]


def cell_with(notebook, cell_id):
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def test_lesson_00_runs_top_to_bottom_as_an_attendee(api, tmp_path, monkeypatch):
    (me,) = classroom.create(classroom.attendees_from("room", count=1), "room")
    folder = classroom.write_files([me], "room", folder=tmp_path)
    notebook, expected = solution_edition_as("00_set_up_and_check.ipynb", folder / "attendee-01.env", monkeypatch)
    assert unexpected_errors(notebook) == []
    facts = outputs_of(cell_with(notebook, "efdd19c2"))   # what is running: their vhost, and the one sentence
    assert NODE_WIDE in facts and me.account in facts and "RabbitMQ version" in facts
    assert "plugins the course needs" in outputs_of(cell_with(notebook, "1f39ae44"))
    meant_to_fail = [cell for cell in notebook.cells if "raises-exception" in cell.metadata.get("tags", [])]
    assert meant_to_fail and all("CourseError" in outputs_of(cell) for cell in meant_to_fail)   # the wrong password too
    assert NODE_WIDE in outputs_of(cell_with(notebook, "786b3925"))   # api.nodes(): none, and why
    verdicts = {(exercise.number, verdict): outputs_of(cell).strip() for cell, verdict, exercise in expected}
    assert verdicts[1, "✅"].startswith("✅")
    # Exercise 2 reads the node's plugins, which the account may not see: judged on two made-up nodes.
    assert verdicts[2, "✅"].startswith("✅") and "made up two" in verdicts[2, "✅"]
    assert verdicts[2, "❌"].startswith("❌")


def test_lesson_10_runs_top_to_bottom_as_an_attendee_beside_another_with_the_same_queues(api, tmp_path, monkeypatch):
    people = classroom.create(classroom.attendees_from("room", count=2), "room")
    folder = classroom.write_files(people, "room", folder=tmp_path)
    me, neighbour = people
    theirs = {"monitor.backlog": 5, "monitor.stuck": 2, "monitor.tasks": 7}   # the lesson's queue names, in another vhost
    with connect(url=read_dotenv(folder / "attendee-02.env")["AMQP_URL"]) as connection:
        channel = connection.channel()
        for name, count in theirs.items():
            channel.queue_declare(name, durable=True)
            for number in range(count):
                publish(channel, name, f"neighbour {number}", persistent=True)
    notebook, expected = solution_edition_as("10_monitoring.ipynb", folder / "attendee-01.env", monkeypatch)
    assert unexpected_errors(notebook) == []
    assert NODE_WIDE in outputs_of(cell_with(notebook, "0f2a97f9"))   # the nodes' health: the one sentence instead
    series = outputs_of(cell_with(notebook, "7c211372"))   # the per-queue series shown: their own vhost's only
    assert me.account in series and neighbour.account not in series
    for cell, verdict, exercise in expected:
        said = outputs_of(cell).strip()
        assert said.startswith(verdict), f"exercise {exercise.number}: {said}"
    as_neighbour = ManagementAPI(settings().management_url, neighbour.account, neighbour.password, vhost=neighbour.account)
    assert {queue["name"]: queue.get("messages") for queue in as_neighbour.queue_list()
            if queue["name"] in theirs} == theirs   # the lesson left the neighbour's queues of the same names alone


def test_the_attendees_files_are_the_instructors_alone_and_an_unknown_class_is_said_so(api, tmp_path):
    people = classroom.create(classroom.attendees_from("room", count=1), "room")
    folder = classroom.write_files(people, "room", folder=tmp_path)
    assert {path.name: path.stat().st_mode & 0o777 for path in folder.iterdir()} == {"attendee-01.env": 0o600,
                                                                                    "cards.md": 0o600}
    (table,) = classroom.refreshed_grids("no-such-class", seconds=0)
    assert classroom.board_text(table).startswith("No attendees in this class: check --class")
