# cnndsl — `make demo` and `make test` work on a fresh machine: they create .venv, install
# the package with its dev tools, and install the Debian packages the tests use (graphviz, chromium, TeX, npm) when missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
STAMP   := $(VENV)/.installed

.PHONY: setup system vscode demo test test-slow fuzz check lint style types bench docs clean

setup: $(STAMP) system

$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	$(PYTHON) -m compileall -q cnndsl
	touch $(STAMP)

# Debian packages the tests use, installed in one apt-get run when a program is missing:
# graphviz (dot: every diagram), texlive-latex-base and texlive-pictures (pdflatex with TikZ
# for tests/test_diagram_tikz.py and test_tables.py, without recommends), chromium (the preview's
# browser test), nodejs and npm (tests/test_highlight.py packs the VS Code extension).
system:
	@need=""; tex=""; \
	command -v dot >/dev/null 2>&1 || need="$$need graphviz"; \
	command -v chromium >/dev/null 2>&1 || need="$$need chromium"; \
	command -v npm >/dev/null 2>&1 || need="$$need nodejs npm"; \
	command -v pdflatex >/dev/null 2>&1 || tex="texlive-latex-base texlive-pictures"; \
	if [ -n "$$need$$tex" ]; then \
	  echo "installing Debian packages:$$need $$tex"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq || exit 1; \
	  if [ -n "$$need" ]; then $$SUDO apt-get install -y -qq $$need >/dev/null || exit 1; fi; \
	  if [ -n "$$tex" ]; then \
	    $$SUDO apt-get install -y -qq --no-install-recommends $$tex >/dev/null || exit 1; fi; \
	fi

# The VS Code extension as editors/vscode/cnndsl.vsix (npm packages stay in its node_modules)
vscode:
	cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && \
	  node_modules/.bin/vsce package --out cnndsl.vsix

# The main job on the bundled example data: check, tabulate, draw, compile and train LeNet-5
# on scikit-learn's handwritten digits.
demo: setup
	$(BIN)/cnndsl check examples/lenet5.cnn
	$(BIN)/cnndsl summary examples/lenet5.cnn
	$(BIN)/cnndsl render examples/lenet5.cnn -o runs/lenet5.png --force
	$(BIN)/cnndsl compile examples/lenet5.cnn -o runs/generated
	rm -rf runs/lenet5-demo
	$(BIN)/cnndsl train examples/lenet5.cnn --out runs/lenet5-demo
	$(PYTHON) -m cnndsl.training.sample runs/digit.png

test: setup
	$(BIN)/pytest -q
	$(BIN)/cnndsl compile examples/*.cnn --check
	$(BIN)/cnndsl fmt --check examples/
	$(BIN)/ruff check cnndsl tests bench docs
	$(BIN)/ruff format --check cnndsl tests bench docs generated
	$(BIN)/mypy --strict generated/

# What `make test` leaves out for time: the export files of every example (ONNX, a saved
# torch.export program, saved TorchScript) written and loaded back. `make test` converts every
# example in memory and compares all three, and round-trips the files of five examples.
test-slow: setup
	$(BIN)/pytest -q -m slow

# Differential fuzzing for as long as asked: `make fuzz N=20000` (programs) or
# `make fuzz TIME=3600` (seconds); each new disagreement is shrunk and saved under
# tests/fixtures/fuzz/, which `make test` replays forever.
N       ?= 20000
TIME    ?= 0
JOBS    ?= 2
SEED    ?= $(shell date +%s)
fuzz: setup
	$(PYTHON) tests/fuzzkit/main.py --count $(N) --jobs $(JOBS) --seed $(SEED) $(if $(filter-out 0,$(TIME)),--seconds $(TIME))

check: lint types test

lint:
	$(BIN)/ruff check cnndsl tests bench docs
	$(BIN)/ruff format --check cnndsl tests bench docs generated

style:
	$(BIN)/ruff check --fix cnndsl tests bench docs
	$(BIN)/ruff format cnndsl tests bench docs

types:
	$(BIN)/mypy cnndsl

bench: setup
	$(PYTHON) bench/frontend.py
	$(PYTHON) bench/generated_vs_torchvision.py
	$(PYTHON) bench/trainer_overhead.py

docs: setup
	$(PYTHON) docs/make_diagrams.py

clean:
	rm -rf build dist *.egg-info runs
