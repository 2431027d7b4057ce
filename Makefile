# Two entry points a fresh clone needs: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint lambda-zip

$(STAMP): pyproject.toml constraints.txt tools/http_parser_wheel.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	tools/http_parser_wheel.sh $(BIN)/python $(VENV)/wheelhouse
	$(BIN)/pip install --quiet -c constraints.txt $(VENV)/wheelhouse/http_parser-*.whl
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/controlplane plan examples/snapshot.json --format table

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# The scheduled-scaling Lambda's zip (python3.12 runtime, no pymesos), byte-for-byte reproducible.
lambda-zip: $(STAMP)
	$(BIN)/python tools/build_lambda.py --out build/lambda/scheduled_scaling.zip
