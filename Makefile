# The commands the README documents. A fresh machine needs only python3 (3.11 or newer): `make install`
# brings uv, and uv brings everything else into .venv.

PYTHON ?= python3
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-x -k submit"
PYTEST_ARGS ?=

.PHONY: install up test lint bench

install:
	@$(UV) --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --all-packages --locked

up: install
	$(VENV)/bin/taskbus-dev

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/taskbus/src $(wildcard services/*/src)

bench: install
	@if [ -f bench/run.py ]; then $(VENV)/bin/python bench/run.py; \
	elif [ -f bench/__main__.py ]; then $(VENV)/bin/python -m bench; \
	else echo "no benchmarks yet: bench/run.py is not written" >&2; exit 1; fi
