"""What holds for every exercise check: each has wrong-answer tests here, and none raises,
whatever it is given."""

import inspect
from pathlib import Path

import pytest

from helpers import checks
from exercise_support import verdict


def test_every_exercise_check_is_tested_here():
    source = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    for name in checks.__all__:
        if name.startswith("check_"):
            assert f"checks.{name}(" in source, f"{name} has no wrong-answer test in tests/exercises/"


@pytest.mark.parametrize("name", [name for name in checks.__all__ if name.startswith("check_")])
@pytest.mark.parametrize("wrong", [None, 42, "not what it asks for"])
def test_a_check_never_raises_whatever_it_is_given(capsys, name, wrong):
    function = getattr(checks, name)
    required = [parameter for parameter in inspect.signature(function).parameters.values()
                if parameter.default is inspect.Parameter.empty]
    function(*[wrong] * len(required))  # a learner's leftover placeholder, a number, a string
    assert verdict(capsys) == "❌"
