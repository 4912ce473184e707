# Quick start: `make demo` runs the digits recipe end to end; `make test` runs the test suite.
# Both create .venv and install the project (pinned dependencies) on first use.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-all install clean flite

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	$(VENV)/bin/python -m pip install --quiet --no-deps pyctcdecode==0.5.0 pygtrie==2.6.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python recipes/digits/run.py

# The default run leaves out the slow tier (tests marked `slow`: they train to convergence or drive
# a whole recipe or CLI pipeline); `make test-all` runs everything.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# Debian's flite: only for the out-of-domain dev set (never training); installed when this is root on Debian.
flite:
	@command -v flite >/dev/null && echo "flite: $$(command -v flite)" || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y -q flite; } || \
	  { echo "flite is missing: run 'sudo apt-get install flite' (Debian/Ubuntu)"; exit 1; }

clean:
	rm -rf recipes/*/exp recipes/*/data .pytest_cache
