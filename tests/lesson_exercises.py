"""Strict nbval over every lesson, then, in the same kernel, each of its exercises done again.

nbval runs each lesson's cells and compares every stored output (the stored lesson is a Run All
with nothing typed, so its checks show their ❌). After the lesson's last cell (which cleans up
and closes the lesson's connection), each exercise is done again as a learner does after a Run
All: its given cell, the solution typed into the learner's cell, its check, which must say ✅
(tools/exercises.py, ``done_again``). So one run of each lesson proves both: the lesson as stored,
and that each exercise's solution passes its check and its given cell makes all it needs.
A plugin object (tests/conftest.py registers it): a hook of that file reaches only tests/.
"""

from collections import defaultdict

import pytest
from lesson_kernels import NOTEBOOKS, exercises
from nbval.plugin import IPyNbCell, IPyNbFile


class LessonThenExercises(IPyNbFile):
    """A lesson's cells as nbval collects them, then each exercise done again."""

    def collect(self):
        cells = list(super().collect())   # reads the notebook into self.nb
        yield from cells
        number = len(cells)
        for exercise, done in exercises.done_again(self.nb):
            for step, cell, item in zip(("given", "solution typed in", "check"), done, (DoneAgain, DoneAgain, CheckSaysPass)):
                yield item.from_parent(self, name=f"Exercise {exercise.number} again, {step}", cell_num=number,
                                       cell=cell, options=defaultdict(bool, check=False))   # new cells: nothing stored
                number += 1


class DoneAgain(IPyNbCell):
    """A cell of an exercise done again, named so in a report (nbval says "Cell N")."""

    def reportinfo(self):
        return self.path, 0, f"{self.path.relative_to(self.config.rootpath)}::{self.name}"


class CheckSaysPass(DoneAgain):
    """An exercise's check, run after the solution was typed in: every line it prints is a ✅."""

    def runtest(self):
        super().runtest()
        printed = "".join(out.get("text", "") for out in self.test_outputs
                          if out.get("output_type") == "stream" and out.get("name") == "stdout")
        lines = printed.strip().splitlines()
        if not lines or not all(line.startswith("✅") for line in lines):
            self.raise_cell_error(f"Done after the lesson's last cell, with its solution, the check said {lines!r}, not ✅")


class LessonsWithExercises:
    @pytest.hookimpl(wrapper=True)
    def pytest_collect_file(self, file_path, parent):
        collected = yield
        if file_path.parent != NOTEBOOKS:
            return collected
        return [LessonThenExercises.from_parent(parent, path=file_path) if type(found) is IPyNbFile else found
                for found in collected]
