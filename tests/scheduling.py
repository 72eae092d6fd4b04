"""How `make test` cuts the tests into units of work, which its workers take one at a time
(`CourseScheduling` in conftest.py)."""

import ast
import functools

from helpers.config import PROJECT_DIR


def is_module_fixture(function):
    return any(isinstance(decorator, ast.Call) and ast.unparse(decorator.func) in ("pytest.fixture", "fixture")
               and any(k.arg == "scope" and getattr(k.value, "value", None) == "module" for k in decorator.keywords)
               for decorator in function.decorator_list)


@functools.cache
def module_fixture_users(path):
    """The names of the tests in the file ``path`` that take one of its module-scoped fixtures
    (lesson 12's TLS node, lesson 13's cluster, lesson 09's one channel). They are one unit, so
    that one worker sets the fixture up once: split over the workers, each worker would make its
    own (eight TLS nodes and five three-node clusters in a run, at about 3.6 CPU seconds a node's
    start). The scheduler sees only the tests' ids, so this reads the file."""
    try:
        functions = [node for node in ast.parse((PROJECT_DIR / path).read_text()).body
                     if isinstance(node, ast.FunctionDef)]
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    shared = {function.name for function in functions if is_module_fixture(function)}
    return frozenset(function.name for function in functions
                     if function.name.startswith("test") and shared & {a.arg for a in function.args.args})


def shares_a_module_fixture(nodeid):
    path, _, test = nodeid.partition("::")
    return path.endswith(".py") and test.partition("[")[0] in module_fixture_users(path)


def unit_of(nodeid):
    """The unit of work a test belongs to: its file, with two exceptions."""
    path, _, test = nodeid.partition("::")
    if path.endswith("test_lab_in_a_browser.py"):
        return nodeid  # one browser test (each worker starts its own lab, and they run side by side)
    if "/exercises/" in path and not shares_a_module_fixture(nodeid):
        return nodeid  # one wrong (or right) answer to one exercise's check: each sets up its own state
    return path


def takes_long(nodeid):
    """A unit that takes long (a lesson, a browser test, a node of its own): first in a fresh clone."""
    return (nodeid.endswith(".ipynb") or ".ipynb::" in nodeid or "test_lab_in_a_browser.py" in nodeid
            or shares_a_module_fixture(nodeid))
