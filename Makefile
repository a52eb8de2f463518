# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
# Entry points: `make e2e` (one scenario, default `default`) and `make test` (everything
# that runs on this machine). Both create the virtualenv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
SCENARIO ?= default
# Scenarios `make test` runs, each a full `molecule test` (destroy, converge, idempotence,
# verify, destroy); a+b+c share one deployment (tools/scenarios.py).
SCENARIOS ?= default redis yaml_config thread+gevent+eventlet docker_host images standalone sidecar compose multinode+vms
REPORTS ?= $(CURDIR)/reports

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# pip trusts the system's CA store (a TLS-inspecting proxy's CA is there, not in pip's own
# bundle) unless PIP_CERT says otherwise.
SYSTEM_CA := /etc/ssl/certs/ca-certificates.crt
ifneq ($(wildcard $(SYSTEM_CA)),)
export PIP_CERT ?= $(SYSTEM_CA)
endif

.PHONY: help system-packages venv e2e verify vms timings bench bench-smoke matrix matrix-clean test unit lint sanity changelog workflows k8s-static molecule checks-venv installed-check docker-host compose-files clean

help:
	@echo "make e2e [SCENARIO=default|sidecar|compose|standalone|images|redis|yaml_config|thread|gevent|eventlet|docker_host|multinode]"
	@echo "                                               deploy one scenario on this host and verify it"
	@echo "make verify SCENARIO=s [K=expr] [M=expr]       re-run checks (pytest -k K, -m M) on a converged scenario"
	@echo "make vms [INVENTORY=inventories/vms/hosts.yml] [VMS_VARS=file] [ROLL=exporter spec]"
	@echo "                                               deploy to your VMs over SSH and verify; ROLL: then roll that"
	@echo "                                               exporter over the app nodes behind the balancer"
	@echo "make timings [TIMING_SCENARIOS=\"default redis\"] [RUNS=3]  each step of those scenarios timed, median of RUNS"
	@echo "make bench [BENCH_ARGS=\"-e benchmark_rounds=9\"]   the exporter's overhead and scrape cost here: reports/bench/"
	@echo "make matrix [MATRIX_ARGS=\"--gunicorns 23.0.0 latest\"]  exporter x Gunicorn x worker x storage: reports/matrix/"
	@echo "make docker-host                               install and start a Docker engine here"
	@echo "make compose-files                             render fixtures/compose/ from the docker_stack role"
	@echo "make installed-check                           scenario default, verified by the check library installed with pip"
	@echo "make k8s-static                                the Kubernetes manifests of both patterns and storages, checked without a cluster"
	@echo "make test                                      unit, lint, sanity, changelog, workflows, k8s-static, bench-smoke, every scenario"
	@echo "make unit | make lint | make sanity | make changelog | make workflows | make clean"

# What the virtualenv and the checks need from the system, installed with apt when missing
# (as root on Debian or Ubuntu): ensurepip (python3-venv) for virtualenvs, `ss` (iproute2)
# for the socket checks. Anything else the scenarios need, their roles install.
system-packages:
	@missing=""; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v ss >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	    echo "missing:$$missing; install them (or run this as root on Debian or Ubuntu)"; exit 1; fi; \
	  echo "== installing$$missing with apt-get"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --editable .
	touch $@

venv: system-packages $(VENV)/.installed

e2e: venv
	@start=$$(date +%s); \
	GPE_REPORT_DIR=$(REPORTS)/$(SCENARIO) molecule test -s $(SCENARIO); rc=$$?; \
	echo; echo "== $(SCENARIO): molecule test exited $$rc after $$(( $$(date +%s) - start ))s"; \
	if [ -f $(REPORTS)/$(SCENARIO)/summary.md ]; then cat $(REPORTS)/$(SCENARIO)/summary.md; fi; \
	exit $$rc

# Re-runs the checks of one scenario on its converged stack (`molecule converge -s S` first):
# K selects by name (pytest -k), M by area marker (pytest -m: packages ports configuration
# metrics redis prometheus signals load containers, and disruptive), e.g. M="redis and not disruptive".
verify: venv
	@GPE_REPORT_DIR=$(REPORTS)/$(SCENARIO) PYTEST_ADDOPTS="$(PYTEST_ADDOPTS)$(if $(K), -k '$(K)')$(if $(M), -m '$(M)')" \
	  molecule verify -s $(SCENARIO); rc=$$?; \
	if [ -f $(REPORTS)/$(SCENARIO)/summary.md ]; then cat $(REPORTS)/$(SCENARIO)/summary.md; fi; \
	exit $$rc

# Deploys the stack to the hosts of your inventory (real VMs over SSH: groups redis,
# gunicorn_app, prometheus) and verifies it, creating and destroying nothing: site.yml, the
# same again (it must change nothing), then the check library against that inventory.
# VMS_VARS: a file of extra variables (-e @FILE). `make test` runs it on the multinode nodes.
INVENTORY ?= inventories/vms/hosts.yml
VMS_VARS ?=
vms: venv
	@python tools/vms.py --inventory $(INVENTORY) $(if $(VMS_VARS),--extra-vars $(VMS_VARS)) $(if $(ROLL),--roll '$(ROLL)') \
	  --reports $(REPORTS)/vms; rc=$$?; \
	for summary in $(REPORTS)/vms/summary.md $(if $(ROLL),$(REPORTS)/vms/rolled/summary.md); do \
	  if [ -f $$summary ]; then cat $$summary; fi; done; \
	exit $$rc

# The GitHub workflows (.github/workflows/) against the GitHub workflow schema that
# check-jsonschema ships (no download).
workflows: venv
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

unit: venv
	pytest tests/unit

# The static tier of the Kubernetes target, where no cluster runs: every manifest the
# k8s_stack role renders (both patterns, both storage backends, both discoveries) against
# the Kubernetes schemas (kubernetes-validate, strict), the stack's policy (selectors,
# ports, NetworkPolicy flows, probes, tags, non-root, read-only, per-pod key prefix),
# promtool and the relabel rules; every playbook's syntax; the playbooks stopping at once
# without a cluster. Each check is also shown red on a manifest broken on purpose.
k8s-static: venv
	@if ! command -v promtool >/dev/null; then \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	    echo "missing: promtool; install it (Debian: apt-get install prometheus)"; exit 1; fi; \
	  echo "== installing promtool (Debian package prometheus) with apt-get"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; \
	fi
	pytest tests/k8s_static

lint: venv
	yamllint --strict .
	ansible-lint

# ansible-test sanity on the collection with the venv's Python: every test that runs offline (none needs a
# container); each test's pinned tools go into its own cached virtualenv, pip bootstrapped by tests/sanity/pip_bootstrap.py.
sanity: venv
	@dir=collections/ansible_collections/gunicorn_prometheus/stack; \
	py=$$($(VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	pip=$$($(VENV)/bin/python -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages; \
	  print(get_venv_packages(types.SimpleNamespace(version="'$$py'"))["pip"].replace(".", "_"))') || exit 1; \
	boot=$$HOME/.ansible/test/cache/get_pip_$$pip.py; \
	if [ ! -f "$$boot" ] || { grep -q gunicorn_prometheus "$$boot" && ! cmp -s $$dir/tests/sanity/pip_bootstrap.py "$$boot"; }; then \
	  install -D -m 644 $$dir/tests/sanity/pip_bootstrap.py "$$boot"; fi; \
	cd $$dir && ansible-test sanity --python $$py --color no

# The collection's changelog: fragments and changelog.yaml pass antsibull-changelog's linters,
# and CHANGELOG.md is what `antsibull-changelog generate` renders (it reads changelog.yaml only).
CHANGELOG_DIR ?= collections/ansible_collections/gunicorn_prometheus/stack
changelog: venv
	cd $(CHANGELOG_DIR) && antsibull-changelog lint && antsibull-changelog lint-changelog-yaml --strict changelogs/changelog.yaml
	@cd $(CHANGELOG_DIR) && out=$$(mktemp) && trap 'rm -f "$$out"' EXIT \
	  && antsibull-changelog generate --output "$$out" --output-format md && diff -u CHANGELOG.md "$$out" \
	  || { echo "$(CHANGELOG_DIR)/CHANGELOG.md is stale: run antsibull-changelog generate there"; exit 1; }

# Every scenario of SCENARIOS (tools/scenarios.py): a line before each with [k/N], the time so
# far and an estimate of the time left; a+b+c runs those scenarios on one deployment (destroyed
# before the first and after the last); `default` is verified by the check library installed
# from this repository with pip (CHECKS_VENV), run as the README says; the closing line totals
# every scenario's checks.
CHECKS_VENV ?= build/checks-venv
molecule: venv $(if $(filter default,$(subst +, ,$(SCENARIOS))),checks-venv)
	python tools/scenarios.py --reports $(REPORTS) --installed-venv $(CHECKS_VENV) $(SCENARIOS)

# The check library as a user gets it: `pip install .` into a new virtualenv.
checks-venv: venv
	@rm -rf $(CHECKS_VENV)
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install -q --upgrade pip
	$(CHECKS_VENV)/bin/pip install -q .

# The `default` scenario alone, verified by the installed check library.
installed-check: venv checks-venv
	python tools/scenarios.py --reports $(REPORTS) --installed-venv $(CHECKS_VENV) default

# Where each scenario's time goes: every Molecule step timed alone, RUNS times (median and
# min-max), the slowest checks too; printed and written to reports/timings.md.
TIMING_SCENARIOS ?= default redis
RUNS ?= 3
timings: venv
	python tools/timings.py --runs $(RUNS) $(TIMING_SCENARIOS)

# What the exporter costs a Gunicorn app on this host (playbooks/benchmark.yml): throughput
# and latency against plain Gunicorn, both storages, interleaved rounds; the cost of a scrape
# as live workers grow and as ended workers accumulate. Reports in reports/bench/ (bench.md,
# CSV, PNG). BENCH_ARGS: more ansible-playbook arguments, e.g. -e benchmark_rounds=9.
BENCH_ARGS ?=
bench: venv
	ansible-playbook playbooks/benchmark.yml -e benchmark_reports=$(REPORTS)/bench $(BENCH_ARGS)

# The same playbook at its smallest (two short rounds, two points per scrape series): that
# `make bench` runs, measures and reports, in about a minute.
bench-smoke: venv
	ansible-playbook playbooks/benchmark.yml -e benchmark_reports=$(REPORTS)/bench-smoke -e benchmark_rounds=2 \
	  -e benchmark_seconds=1 -e benchmark_warmup_seconds=1 -e benchmark_scrapes=3 \
	  -e '{"benchmark_live_workers": [1, 2], "benchmark_restarts": [0, 20]}'

# The compatibility matrix (tools/matrix.py): the host scenario's checks that need no
# Prometheus and no load tool, on one stack per cell of exporter x Gunicorn x worker class x
# storage, deployed by playbooks/matrix.yml and removed after. reports/matrix/matrix.md and
# junit.xml. MATRIX_ARGS, e.g. --gunicorns 23.0.0 latest --workers sync gevent --jobs 4.
MATRIX_ARGS ?=
matrix: venv
	python tools/matrix.py --reports $(REPORTS)/matrix $(MATRIX_ARGS)

# Removes the virtualenvs the matrix's cells share (kept between runs).
matrix-clean:
	rm -rf /var/cache/gpe-matrix

# Renders fixtures/compose/ from the docker_stack role (a unit test checks they are current).
compose-files: venv
	ansible-playbook tools/compose_files.yml

# Installs and starts a Docker engine on this host (playbooks/docker.yml).
docker-host: venv
	ansible-playbook playbooks/docker.yml

test: unit lint sanity changelog workflows k8s-static bench-smoke molecule

clean:
	rm -rf $(VENV) $(REPORTS)
