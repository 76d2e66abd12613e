# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Two installs: the runtime (what `make demo` needs) and the dev tools on top (tests, linters).
RUNTIME := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.dev-stamp

.PHONY: demo test lint bench mutate kafka-up kafka-down clean install

install: $(STAMP)

# setuptools prints a notice about every editable install; it is not a problem to act on.
QUIET_PIP := PYTHONWARNINGS=ignore:::setuptools.command.editable_wheel $(BIN)/python -m pip install -q

$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(QUIET_PIP) -e .
	@touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(QUIET_PIP) -e '.[dev]'
	@touch $(STAMP)

demo: $(RUNTIME)
	$(BIN)/nhi demo --db demo.duckdb

# The suite runs against a real Kafka broker: NHI_KAFKA_BOOTSTRAP if set, else a local one started here
# (and stopped afterwards, unless it was already running or KEEP_KAFKA is set). Without CI, a broker
# that can't start makes the Kafka tests skip; with CI set they fail.
test: $(STAMP)
	@started=; \
	if [ -z "$$NHI_KAFKA_BOOTSTRAP" ] && ! $(BIN)/python .ci/kafka/broker.py status >/dev/null 2>&1; then \
	  if $(BIN)/python .ci/kafka/broker.py up; then started=1; elif [ -n "$$CI" ]; then exit 1; fi; \
	fi; \
	bs=$${NHI_KAFKA_BOOTSTRAP:-$$(cat .kafka/bootstrap 2>/dev/null)}; \
	if [ -n "$$bs" ]; then export NHI_KAFKA_BOOTSTRAP=$$bs; fi; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ -n "$$started" ] && [ -z "$$KEEP_KAFKA" ]; then $(BIN)/python .ci/kafka/broker.py down; fi; \
	exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench engine --json

# Mutation testing of the rule modules ([tool.mutmut] in pyproject.toml; figures in docs/testing.md).
# Slow (tens of minutes on 2 cores), so not part of make test or CI. Results stay in mutants/;
# `.venv-mutate/bin/mutmut results` lists survivors, `.venv-mutate/bin/mutmut show NAME` shows one.
MUTATE_VENV := .venv-mutate
mutate:
	@test -x $(MUTATE_VENV)/bin/python || $(PYTHON) -m venv $(MUTATE_VENV)
	PYTHONWARNINGS=ignore:::setuptools.command.editable_wheel $(MUTATE_VENV)/bin/python -m pip install -q -e '.[dev,mutate]'
	$(MUTATE_VENV)/bin/mutmut run
	$(MUTATE_VENV)/bin/python -m bench.mutation_report

kafka-up: $(STAMP)
	$(BIN)/python .ci/kafka/broker.py up

# broker.py is stdlib-only, so a broker can still be stopped after the venv is gone.
kafka-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python .ci/kafka/broker.py down; else $(PYTHON) .ci/kafka/broker.py down; fi

clean: kafka-down
	rm -rf $(VENV) .venv-mutate .kafka .pytest_cache .mypy_cache .ruff_cache demo.duckdb mutants
