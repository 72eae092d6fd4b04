# The course's commands. The two a learner needs: `make lab` and `make test`.
# Everything else is here for instructors and maintainers.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help lab test setup broker down status restart reset notebooks student dashboard benchmark clean

help:
	@echo "make lab       set everything up, start the broker, open the course in JupyterLab"
	@echo "make test      set everything up, start the broker, run every test and notebook"
	@echo "make broker | down | status | restart | reset   the course's RabbitMQ"
	@echo "make student   copies of the lessons without solutions, in student/, for a workshop"
	@echo "make dashboard a live view of every queue for a demo (60 s; python -m helpers.dashboard --help)"
	@echo "make benchmark | benchmark-monitoring   measure work distribution / the cost and lag of monitoring"
	@echo "make notebooks re-run every lesson to refresh its stored outputs (NB=notebooks/02_*.ipynb for one)"

# The virtual environment, re-made when requirements.txt or pyproject.toml change.
$(READY): requirements.txt pyproject.toml tools/setup_venv.sh
	@PYTHON="$(PYTHON)" VENV="$(VENV)" sh tools/setup_venv.sh
	@touch $(READY)

setup: $(READY)

broker: setup
	@$(BIN)/python -m helpers.broker up

down status restart reset: setup
	@$(BIN)/python -m helpers.broker $@

test: broker
	$(BIN)/pytest

lab: broker
	@echo "Opening JupyterLab on the lessons; if no browser opens, open the http://127.0.0.1:8888/lab?token=... address printed below."
	@$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks $(ROOT_FLAG) notebooks/00_set_up_and_check.ipynb

NB ?= notebooks/[0-9][0-9]_*.ipynb
notebooks: broker
	$(BIN)/python tools/update_navigation.py
	$(BIN)/python tools/run_notebooks.py $(NB)

student: setup
	@$(BIN)/python tools/make_student_copy.py

dashboard: broker
	@$(BIN)/python -m helpers.dashboard --seconds 60

benchmark: broker
	$(BIN)/python benchmarks/work_distribution.py

clean: down
	rm -rf $(VENV) .broker

# Lesson 10: what the 1 s sampler costs the broker, and how far the live chart runs behind it.
.PHONY: benchmark-monitoring
benchmark-monitoring: broker
	$(BIN)/python benchmarks/sampler_overhead.py
