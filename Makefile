# Hive: two commands from a fresh clone.
#   make demo   set up .venv and run the main job on the embedded default
#   make test   set up .venv with dev tools, build the test bed's Kubernetes binaries once per
#               machine (cached outside the clone), then run ruff, mypy and the whole pytest suite

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hive-installed

.PHONY: demo test lint typecheck unit bench crds docs clean k8s

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/hive tools install-helm --dest $(BIN)
	@touch $(STAMP)

# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, lazyfs and cert-manager's controller
# (with its CRDs) from our pinned Go modules (testbed/k8s, testbed/etcd, testbed/lazyfs, testbed/certmanager)
# into ~/.cache/hive/k8s/<version>/bin; skipped when current.
k8s: $(STAMP)
	$(BIN)/hive dev build

demo: $(STAMP) k8s
	$(BIN)/hive demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) k8s
	$(BIN)/pytest

test: lint typecheck k8s
	$(BIN)/pytest

crds: $(STAMP)
	$(BIN)/hive crds generate

bench: $(STAMP)
	$(BIN)/hive bench all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
