# The README's two commands: `make demo` and `make test`. Everything installs from python3 + pip alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := plugins/ecsync_amazon plugins/ecsync_yahoo plugins/ecsync_rakuten
STAMP := $(VENV)/.installed

.PHONY: install test lint typing tests demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

test: install lint typing tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typing: install
	$(BIN)/mypy src plugins/ecsync_amazon/src plugins/ecsync_yahoo/src plugins/ecsync_rakuten/src

tests: install
	$(BIN)/pytest -q

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/nox -s bench

clean:
	rm -rf $(VENV) .nox .mypy_cache .pytest_cache .ruff_cache .hypothesis
