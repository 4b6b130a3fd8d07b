# The two commands of the README:
#   make demo   set up from nothing and run the whole ensemble_ava programme at demo scale
#   make test   set up what the tests need (packages, PostgreSQL, SLURM) and run every test
.PHONY: demo test setup test-setup

PYTEST_ARGS ?=
export ORCH_TEST_PG_URL ?= postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test

setup:
	scripts/setup.sh

test-setup:
	scripts/setup.sh --test

demo: setup
	.venv/bin/python -m orchestrator submit ensemble_ava scale=demo --wait

test: test-setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)
