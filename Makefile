# Two entry points a fresh clone needs: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint lambda-zip tf-check

$(STAMP): pyproject.toml constraints.txt tools/http_parser_wheel.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	tools/http_parser_wheel.sh $(BIN)/python $(VENV)/wheelhouse
	$(BIN)/pip install --quiet -c constraints.txt $(VENV)/wheelhouse/http_parser-*.whl
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The main job on the embedded default: a day of work replayed through the real daemon on
# moto + the Mesos emulator (virtual clock); report in demo-out/.
run: $(STAMP)
	$(BIN)/controlplane demo --out demo-out

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint tf-check
	$(BIN)/pytest -q

# The scheduled-scaling Lambda's zip (python3.12 runtime, no pymesos), byte-for-byte reproducible.
lambda-zip: $(STAMP)
	$(BIN)/python tools/build_lambda.py --out build/lambda/scheduled_scaling.zip

# Static checks of terraform/ (checkov in its own .venv-checkov; terraform fmt if installed).
tf-check:
	tools/tf_check.sh
