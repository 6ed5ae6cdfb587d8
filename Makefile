# cnndsl — `make demo` and `make test` work on a fresh machine: they create .venv,
# install the package, and install Debian's graphviz when `dot` is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
STAMP   := $(VENV)/.installed

.PHONY: setup demo test check lint style types bench docs clean

setup: $(STAMP) dot

$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

dot:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing graphviz (dot)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; }

demo: setup
	$(BIN)/cnndsl check examples/lenet5.cnn
	$(BIN)/cnndsl summary examples/lenet5.cnn
	$(BIN)/cnndsl summary examples/resnet50.cnn --depth 1

lint:
	$(BIN)/ruff check cnndsl tests bench
	$(BIN)/ruff format --check cnndsl tests bench

style:
	$(BIN)/ruff check --fix cnndsl tests bench
	$(BIN)/ruff format cnndsl tests bench

types:
	$(BIN)/mypy cnndsl

test: setup
	$(BIN)/pytest -q
	$(BIN)/ruff check cnndsl tests bench

check: lint types test

bench: setup
	$(PYTHON) bench/frontend.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
