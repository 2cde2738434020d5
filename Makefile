# connlab: the two commands a user needs are `make scenario NAME=...` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NAME   ?= autoscale
APP    ?=
BACKEND ?=
ARGS   ?=
APP_FLAG := $(if $(APP),--app $(APP))
BACKEND_FLAG := $(if $(BACKEND),--backend $(BACKEND))

.PHONY: scenario demo predict test test-fast lint venv clean

$(BIN)/connlab: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/connlab

## Run one scenario for real: make scenario NAME=over-limit [APP=rails] [BACKEND=docker] [ARGS=--json]
scenario: $(BIN)/connlab
	$(BIN)/connlab run $(NAME) $(APP_FLAG) $(BACKEND_FLAG) $(ARGS)

## Teaching mode, the classic examples one by one, each a short real run: make demo [APP=python] [ARGS=--no-pause]
demo: $(BIN)/connlab
	$(BIN)/connlab demo $(APP_FLAG) $(ARGS)

## The arithmetic alone, no servers: make predict NAME=dynos-2x2x2
predict: $(BIN)/connlab
	$(BIN)/connlab predict $(NAME) $(APP_FLAG)

## The test suite (real Postgres, Valkey, gunicorn, Locust; Rails when Ruby is installed)
test: $(BIN)/connlab
	$(BIN)/ruff check harness stacks tests
	$(BIN)/mypy
	$(BIN)/python -m pytest -q $(ARGS)

## The tests that start no server (no Postgres, Valkey, apps, Locust or Docker), in about a minute
test-fast: $(BIN)/connlab
	$(BIN)/python -m pytest -q -m "not e2e" $(ARGS)

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
