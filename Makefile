# Entry points: `make e2e` (one scenario, default `default`) and `make test` (everything
# that runs on this machine). Both create the virtualenv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
SCENARIO ?= default
# Scenarios `make test` runs; each is a full `molecule test` (destroy, converge,
# idempotence, verify, destroy).
SCENARIOS ?= default redis yaml_config
REPORTS ?= $(CURDIR)/reports

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv e2e test unit lint molecule clean

help:
	@echo "make e2e [SCENARIO=default|redis|yaml_config]  deploy one scenario on this host and verify it"
	@echo "make test                                      unit tests, lint and every scenario"
	@echo "make unit | make lint | make clean"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q .
	touch $@

venv: $(VENV)/.installed

e2e: venv
	@start=$$(date +%s); \
	GPE_REPORT_DIR=$(REPORTS)/$(SCENARIO) molecule test -s $(SCENARIO); rc=$$?; \
	echo; echo "== $(SCENARIO): molecule test exited $$rc after $$(( $$(date +%s) - start ))s"; \
	if [ -f $(REPORTS)/$(SCENARIO)/summary.md ]; then cat $(REPORTS)/$(SCENARIO)/summary.md; fi; \
	exit $$rc

unit: venv
	pytest tests/unit

lint: venv
	yamllint --strict .
	ansible-lint

molecule: venv
	@for s in $(SCENARIOS); do \
	  start=$$(date +%s); \
	  GPE_REPORT_DIR=$(REPORTS)/$$s molecule test -s $$s || exit 1; \
	  echo "== scenario $$s passed in $$(( $$(date +%s) - start ))s"; \
	done

test: unit lint molecule

clean:
	rm -rf $(VENV) $(REPORTS)
