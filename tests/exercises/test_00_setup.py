"""Lesson 00 (set up and check): each exercise's check against wrong answers, on the real broker."""

import pytest

from helpers import checks
from helpers.management import management_api
from exercise_support import verdict


def version_left_empty(api):
    return None


def version_typed_in(api):
    return management_api().overview()["rabbitmq_version"]  # the right value, but not read from `api`


def version_right(api):
    return api.overview()["rabbitmq_version"]


@pytest.mark.parametrize("answer, expected", [
    (version_left_empty, "❌"), (version_typed_in, "❌"), ("3.10.8", "❌"),
    (lambda api: api.overview()["erlang_version"], "❌"), (version_right, "✅"),
])
def test_00_exercise_1_broker_version(capsys, answer, expected):
    checks.check_broker_version(answer)
    assert verdict(capsys) == expected


@pytest.mark.parametrize("answer, expected", [
    (lambda api: None, "❌"),
    (lambda api: sorted(management_api().get("nodes")[0]["enabled_plugins"]), "❌"),  # typed in: not from `api`
    (lambda api: api.nodes()["enabled_plugins"], "❌"),  # a pandas Series, not a list
    (lambda api: ["rabbitmq_management"], "❌"),
    (lambda api: list(api.nodes()["enabled_plugins"][0]), "✅"),
])
def test_00_exercise_2_enabled_plugins(capsys, answer, expected):
    checks.check_enabled_plugins(answer)
    assert verdict(capsys) == expected
