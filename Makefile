# The course's commands. The two a learner needs: `make lab` and `make test`.
# Everything else is here for instructors and maintainers.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help lab workshop test soak benchmark-suite setup broker down status restart reset notebooks student dashboard benchmark clean

help:
	@echo "make lab       set everything up, start the broker, open the course in JupyterLab"
	@echo "make test      set everything up, start the broker, run every test and notebook"
	@echo "make broker | down | status | restart | reset   the course's RabbitMQ"
	@echo "make workshop  the workshop edition (no solutions) in notebooks/student/, opened in JupyterLab"
	@echo "make student   only build that edition"
	@echo "make dashboard a live view of every queue for a demo (60 s; python -m helpers.lab.dashboard --help)"
	@echo "make benchmark | benchmark-monitoring   measure work distribution / the cost and lag of monitoring"
	@echo "make benchmark-classroom   time a workshop's classroom: 30 accounts made, the board read, the reset"
	@echo "make notebooks re-run every lesson to refresh its stored outputs (NB=notebooks/02_*.ipynb for one)"

# The virtual environment, re-made when requirements.txt or pyproject.toml change.
$(READY): requirements.txt pyproject.toml tools/setup_venv.sh
	@PYTHON="$(PYTHON)" VENV="$(VENV)" sh tools/setup_venv.sh
	@touch $(READY)

setup: $(READY)

broker: setup
	@$(BIN)/python -m helpers.ops.broker up

down status restart reset: setup
	@$(BIN)/python -m helpers.ops.broker $@

# The tests run in parallel, each test worker with a RabbitMQ node of its own (tests/conftest.py).
# Eight, even on two cores: the suite mostly waits on the broker (benchmarks/SUITE_TIMES.md).
# Each test worker's node, and each lab or lesson started for the browser tests, stops when the
# run ends, however it ends: Ctrl-C, SIGTERM or a killed make (the run watches make's pid).
TEST_WORKERS ?= 8
PYTEST_ARGS ?=
# TEST_WORKERS=0 runs the tests one by one on the course's broker (started here, stopped after).
test: setup
	@$(BIN)/python -m helpers.ops.broker install
	@$(BIN)/python -m helpers.ops.browser
	@if [ "$(TEST_WORKERS)" = 0 ]; then $(BIN)/python -m helpers.ops.broker up --stop-with $$PPID; fi
	COURSE_TEST_OWNER_PID=$$PPID $(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# JupyterLab runs from notebooks/ (LAB_DIR) with the course's environment first on PATH, and its
# terminals start there with the course's Python (tools/jupyter_lab_config.py): `python
# scripts/worker.py` works in a lab terminal as the lessons say. It opens on the contents page, and
# the address it prints (with its token) is the one to open. The browser tests run it on a copy.
LAB_DIR  ?= notebooks
LAB_ENV  := PATH="$(abspath $(BIN)):$$PATH" VIRTUAL_ENV="$(abspath $(VENV))" COURSE_VENV="$(abspath $(VENV))"
LAB      := cd "$(LAB_DIR)" && $(LAB_ENV) "$(abspath $(BIN))/jupyter" lab --ip=127.0.0.1 --config="$(abspath tools/jupyter_lab_config.py)" $(ROOT_FLAG)
LAB_OPTS ?=
# A local node that `make lab` starts stops with the lab (its shell's pid is the node's owner); a
# broker that already ran (`make broker`) keeps running.
BROKER_WITH_LAB := $(BIN)/python -m helpers.ops.broker up --stop-with $$$$
lab: setup
	@$(BROKER_WITH_LAB) && \
	echo "Opening JupyterLab on the course's contents page. If no browser opens, copy the address JupyterLab prints below into one." && \
	$(LAB) --LabApp.default_url=/lab/tree/index.ipynb $(LAB_OPTS)

# A workshop: the same lab, opened on the edition without solutions (made anew from the lessons).
workshop: setup student
	@$(BROKER_WITH_LAB) && \
	echo "Opening the workshop edition ($(LAB_DIR)/student/): exercises without their solutions." && \
	$(LAB) --LabApp.default_url=/lab/tree/student/00_set_up_and_check.ipynb $(LAB_OPTS)

# The whole suite N times in a row, with a tally of what failed (a flaky test shows itself by name).
N ?= 10
soak: setup
	@$(BIN)/python tools/soak.py $(N)

NB ?= notebooks/[0-9][0-9]_*.ipynb
notebooks: broker
	$(BIN)/python tools/update_navigation.py
	$(BIN)/python tools/run_notebooks.py $(NB)

student: setup
	@$(BIN)/python tools/make_student_copy.py "$(LAB_DIR)/student"

dashboard: broker
	@$(BIN)/python -m helpers.lab.dashboard --seconds 60

benchmark: broker
	$(BIN)/python benchmarks/work_distribution.py

# The whole suite serial and in parallel, timed in the same sitting (benchmarks/SUITE_TIMES.md).
benchmark-suite: setup
	$(BIN)/python benchmarks/suite_times.py

clean: down
	rm -rf $(VENV) .broker .broker-tls .broker-cluster-*

# Lesson 10: what the 1 s sampler costs the broker, and how far the live chart runs behind it.
.PHONY: benchmark-monitoring
benchmark-monitoring: broker
	$(BIN)/python benchmarks/sampler_overhead.py

# A workshop's classroom made, its board read and the class reset, timed (benchmarks/CLASSROOM.md).
.PHONY: benchmark-classroom
benchmark-classroom: broker
	$(BIN)/python benchmarks/classroom.py
