"""How `make test` hands the tests out to its workers (tests/conftest.py)."""

from scheduling import module_fixture_users, unit_of


def test_tests_that_take_a_module_fixture_are_one_unit():
    """Lesson 13's cluster and lesson 12's TLS node are made once, on one worker, for the tests that take them."""
    cluster_tests = {unit_of(f"tests/exercises/test_13_cluster.py::{name}")
                     for name in ("test_13_exercise_1_messages_left_from_before",
                                  "test_13_exercise_1_wrong_answers[no_arguments]",
                                  "test_the_cluster_has_three_running_nodes_that_share_queues")}
    assert cluster_tests == {"tests/exercises/test_13_cluster.py"}
    assert unit_of("tests/exercises/test_12_security.py::test_12_exercise_2_tls_client_certificate[right]") \
        == "tests/exercises/test_12_security.py"
    assert "test_12_exercise_1_read_only_access" not in module_fixture_users("tests/exercises/test_12_security.py")


def test_other_exercise_tests_are_a_unit_each():
    """An exercise test without a shared fixture sets up its own state, so it may run anywhere."""
    one = "tests/exercises/test_12_security.py::test_12_exercise_1_read_only_access[a]"
    assert unit_of(one) == one
    other = "tests/exercises/test_02_hello_queue.py::test_02_exercise_1_right"
    assert unit_of(other) == other


def test_a_lessons_cells_are_one_unit_and_browser_tests_one_each():
    assert unit_of("notebooks/03_task_queue.ipynb::Cell 4") == "notebooks/03_task_queue.ipynb"
    browser = "tests/test_lab_in_a_browser.py::test_lesson_02_runs_top_to_bottom_from_the_menu"
    assert unit_of(browser) == browser
    assert unit_of("tests/test_management.py::test_anything") == "tests/test_management.py"
