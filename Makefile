# cnndsl — `make demo` and `make test` work on a fresh machine: they create .venv, install
# the package with its dev tools, and install Debian's graphviz when `dot` is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
STAMP   := $(VENV)/.installed

.PHONY: setup dot chromium tex npm vscode demo test test-slow fuzz check lint style types bench docs clean

setup: $(STAMP) dot chromium tex npm

$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	$(PYTHON) -m compileall -q cnndsl
	touch $(STAMP)

dot:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing graphviz (the dot program)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; }

# tests/test_diagram_tikz.py and test_tables.py compile `render --format tikz` and the LaTeX
# table with pdflatex: Debian's smallest TeX with TikZ (no recommends)
tex:
	@command -v pdflatex >/dev/null 2>&1 || { \
	  echo "installing pdflatex with TikZ (texlive-latex-base, texlive-pictures)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends \
	    texlive-latex-base texlive-pictures >/dev/null; }

# tests/test_preview.py drives `cnndsl preview` in Debian's headless chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (for the preview's browser test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# tests/test_highlight.py installs editors/vscode's npm packages (vsce, vscode-tmgrammar-test)
npm:
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing node and npm (for the VS Code extension's tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }

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

# What `make test` leaves out for time: every example exported as ONNX (compared under
# onnxruntime), a torch.export program and TorchScript (about a minute per network).
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
