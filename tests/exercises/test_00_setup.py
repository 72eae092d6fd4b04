"""Lesson 00 (set up and check): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.config import read_dotenv
from helpers.management import management_api
from helpers.ops import classroom
from exercise_support import verdict


@pytest.fixture(params=["course", "attendee"])
def account(request, tmp_path):
    """The course's account, or a workshop attendee's, which may not read the node: its check
    judges the answer on two made-up nodes instead."""
    if request.param == "course":
        yield "course"
        return
    classroom.reset("plugins")   # one an interrupted run left
    people = classroom.create(classroom.attendees_from("plugins", count=1), "plugins")
    folder = classroom.write_files(people, "plugins", folder=tmp_path)
    try:
        with pytest.MonkeyPatch.context() as patched:
            for key in ("AMQP_URL", "MANAGEMENT_URL"):
                patched.setenv(key, read_dotenv(folder / "attendee-01.env")[key])
            yield "attendee"
    finally:
        classroom.reset("plugins")


def version_left_empty(api):
    return None


def version_typed_in(api):
    return management_api().overview()["rabbitmq_version"]  # the right value, but not read from `api`


def version_right(api):
    return api.overview()["rabbitmq_version"]


def version_from_another_key_product_version(api):
    return api.overview()["product_version"]  # the same text on this broker, but not the version asked


def version_from_another_key_management_version(api):
    return api.overview()["management_version"]


def version_with_words_around_it(api):
    return f"RabbitMQ {api.overview()['rabbitmq_version']}"


def version_as_numbers(api):
    return tuple(int(part) for part in api.overview()["rabbitmq_version"].split("."))


def version_from_a_key_that_is_not_there(api):
    return api.overview()["version"]  # raises KeyError: the check says so in one line


@pytest.mark.parametrize("answer", [
    pytest.param(version_right, id="overview_key"),
    pytest.param(lambda api: api.overview().get("rabbitmq_version"), id="overview_get"),
    pytest.param(lambda api: api.get("overview")["rabbitmq_version"], id="the_api_path_itself"),
])
def test_00_exercise_1_right_answers(capsys, answer):
    checks.check_broker_version(answer)
    assert verdict(capsys) == "✅"


@pytest.mark.parametrize("answer, expected", [
    (version_left_empty, "❌"), (version_typed_in, "❌"), ("3.10.8", "❌"),
    (lambda api: api.overview()["erlang_version"], "❌"), (version_right, "✅"),
    (version_from_another_key_product_version, "❌"), (version_from_another_key_management_version, "❌"),
    (version_with_words_around_it, "❌"), (version_as_numbers, "❌"), (version_from_a_key_that_is_not_there, "❌"),
])
def test_00_exercise_1_broker_version(capsys, answer, expected):
    checks.check_broker_version(answer)
    assert verdict(capsys) == expected


def plugins_right(api):
    return list(api.nodes()["enabled_plugins"][0])


@pytest.mark.parametrize("answer, expected", [
    (lambda api: None, "❌"),
    (lambda api: sorted(management_api().get("nodes")[0]["enabled_plugins"]), "❌"),  # typed in: not from `api`
    (lambda api: api.nodes()["enabled_plugins"], "❌"),  # a pandas Series, not a list
    (lambda api: ["rabbitmq_management"], "❌"),
    (plugins_right, "✅"),
])
def test_00_exercise_2_enabled_plugins(capsys, answer, expected):
    checks.check_enabled_plugins(answer)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("answer", [
    pytest.param(lambda api: plugins_right(api)[:1], id="a_subset_the_first_plugin_only"),
    pytest.param(lambda api: plugins_right(api) * 2, id="extra_copies_each_plugin_twice"),
    pytest.param(lambda api: plugins_right(api) + ["rabbitmq_shovel"], id="one_plugin_more_than_enabled"),
    pytest.param(lambda api: ", ".join(plugins_right(api)), id="one_string_not_a_list"),
    pytest.param(lambda api: api.nodes()["enabled_plugins"].tolist(), id="the_column_as_a_list_of_lists"),
    pytest.param(lambda api: set(plugins_right(api)), id="a_set_not_a_list"),
    pytest.param(lambda api: sorted(management_api().node()["enabled_plugins"]), id="typed_in_read_from_another_api_object"),
    pytest.param(lambda api: ["rabbitmq_management", "rabbitmq_prometheus"], id="typed_in_the_full_list"),
    pytest.param(lambda api: api.nodes()["plugins"], id="a_column_that_is_not_there"),
])
def test_00_exercise_2_wrong_answers(capsys, answer, account):
    checks.check_enabled_plugins(answer)
    assert verdict(capsys) == "❌"


@pytest.mark.parametrize("answer", [
    pytest.param(plugins_right, id="the_column_of_api_nodes"),
    pytest.param(lambda api: api.node()["enabled_plugins"], id="api_node_as_a_dict"),
    pytest.param(lambda api: tuple(api.nodes()["enabled_plugins"][0]), id="a_tuple"),
])
def test_00_exercise_2_right_answers(capsys, answer, account):
    checks.check_enabled_plugins(answer)
    said = capsys.readouterr().out
    assert said.startswith("✅") and (account == "course") != ("made up two" in said), said
