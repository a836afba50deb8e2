# Tasks of the template repository itself. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
PYTEST_WORKERS ?= 2

.PHONY: help
help: ## list the tasks
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt requirements-checkov.txt constraints-project.txt scripts/system-deps.sh \
		tests/argocd/package.json tests/argocd/package-lock.json
	bash scripts/system-deps.sh
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# checkov pins versions that clash with the test venv: it gets a venv of its own.
	test -x .venv-checkov/bin/python || $(PYTHON_BOOTSTRAP) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	@# Argo CD's own types for tests/test_k8s.py (@kubernetes-models/argo-cd + tsc), from npm, pinned by the lock file.
	mkdir -p .node-tools && cp tests/argocd/package.json tests/argocd/package-lock.json .node-tools/
	npm ci --prefix .node-tools --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: install
install: $(STAMP) ## venv with every tool the tests need (pip + Debian packages)

.PHONY: demo
demo: $(STAMP) ## bake the defaults into demo/ and run the generated project end to end
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	cd $(DEMO_DIR)/mlops-project && $(MAKE) setup && $(MAKE) repro && $(MAKE) test && $(MAKE) drift
	$(PY) scripts/serve-smoke.py $(DEMO_DIR)/mlops-project
	@echo "Demo project: $(DEMO_DIR)/mlops-project (metrics.json, plots/, models/, reports/drift/)"

.PHONY: test
test: $(STAMP) ## the full test suite (every combination, workflows under act, image builds)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: test-quick
test-quick: $(STAMP) ## the quick tier: rendering, hooks, lint (no training, no act, no images)
	$(PY) -m pytest -m "not slow" -n $(PYTEST_WORKERS)

.PHONY: lint
lint: $(STAMP) ## ruff on the template's own Python
	$(PY) -m ruff check hooks tests benchmarks scripts template_support
	$(PY) -m ruff format --check hooks tests benchmarks scripts template_support

.PHONY: lock-template
lock-template: $(STAMP) ## re-resolve the generated uv.lock (one per python_version) and constraints-project.txt; UPGRADE=1 for newest versions
	$(PY) scripts/lock-template.py $(if $(UPGRADE),--upgrade)

.PHONY: format-template
format-template: $(STAMP) ## apply ruff to the generated project's Python (through a bake)
	$(PY) scripts/format-template.py

.PHONY: bench
bench: $(STAMP) ## measure generation, pipeline, workflows, serving and drift (writes benchmarks/results/)
	$(PY) benchmarks/run_all.py
