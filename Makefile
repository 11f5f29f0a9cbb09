# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean system-packages

install: system-packages $(STAMP)

system-packages:
	@scripts/install-system-packages.sh

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade "pip>=24"
	@echo "installing diversion-sync and its pinned dependencies into $(VENV)"
	@$(PY) -m pip install -q -c constraints.txt -e ".[test]" --config-settings editable_mode=compat \
		2>&1 | { grep -v -e "is ignored: it is neither" -e "^ *$$" || true; }
	@touch $(STAMP)

demo: install
	@$(PY) -m demo

test: install
	@$(PY) -m pytest -q

bench: install
	@$(PY) -m bench

clean:
	rm -rf var
