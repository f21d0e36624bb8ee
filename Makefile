# Two commands for a newcomer: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PY := .venv/bin/python
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export MUJOCO_GL ?= osmesa
export PYOPENGL_PLATFORM ?= osmesa
ROBOT ?= franka
# extra demo options, e.g. make demo DEMO_ARGS="--real-time-factor 0.3 --gif demo.gif"
DEMO_ARGS ?=

.PHONY: setup demo test test-fast bench launch clean
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m vla_tools.demo --robot $(ROBOT) $(DEMO_ARGS)

test: setup
	bash scripts/run_tests.sh

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not integration"

bench: setup
	bash scripts/run_bench.sh

launch: setup
	$(PY) -m vla_common.launcher --robot $(ROBOT) --mode sim

clean:
	rm -rf build install log logs
