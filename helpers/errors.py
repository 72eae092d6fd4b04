"""The one exception the course raises, and how it is shown.

Every helper turns the failures a learner can meet (broker down, login refused, a queue that
already exists with other arguments, a port in use...) into a ``CourseError`` whose message is
one sentence plus what to do. In a notebook it is shown as that one line, without a traceback
(see ``show_course_errors_briefly``); a script prints it and exits with status 1.

Introduced in lesson 00.
"""


class CourseError(Exception):
    """A problem the learner can fix, with a message that says how."""


def show_course_errors_briefly():
    """In IPython/Jupyter, show a CourseError as one line instead of a page of traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def _one_line(shell, etype, value, tb, tb_offset=None):
        # An error output whose whole traceback is this one line (the cell still counts as failed).
        shell._showtraceback(etype, value, [f"{etype.__name__}: {value}"])

    shell.set_custom_exc((CourseError,), _one_line)
