# The targets the original README promised, each a one-liner over the project's own tools.
# `make` or `make help` lists them; a `## text` after a target's name is its description.
# tests/unit/test_makefile.py checks that `make help` lists every target and what `make -n` runs.

PYTHON ?= python3
NAMESPACE ?= mcpop-system
RELEASE ?= mcp-operator
# extra arguments: `make run ARGS='--namespace team-a'`, `make test ARGS='tests/unit -x'`,
# `make deploy ARGS='--set image.tag=0.1.0'`, `make release ARGS='--registry REGISTRY --version 0.2.0'`
ARGS ?=
# `make run WEBHOOKS=1`: serve the admission webhooks too, with certificates from /tmp/mcpop-certs (make them
# and register the webhooks once with `mcp operator webhook-config --url https://127.0.0.1:9443
# --cert-dir /tmp/mcpop-certs --apply`)
WEBHOOKS ?=
WEBHOOK_FLAGS = --enable-webhooks --webhook-cert-management external --webhook-cert-dir /tmp/mcpop-certs

.DEFAULT_GOAL := help
.PHONY: help install run build test generate manifests docker-build deploy release docs

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## install the CRDs (schemas/) into the current kube context
	@if command -v kubectl >/dev/null 2>&1; then kubectl apply --server-side -f schemas/; else $(PYTHON) -c 'import pathlib, yaml; from kubernetes import client, config, dynamic; config.load_kube_config(); dc = dynamic.DynamicClient(client.ApiClient()); crd = dc.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"); [print(dc.server_side_apply(crd, body=yaml.safe_load(p.read_text()), field_manager="mcpop-make", force_conflicts=True).metadata.name, "applied") for p in sorted(pathlib.Path("schemas").glob("*.yaml"))]'; fi

run: ## run the operator on this host against the current kubeconfig (WEBHOOKS=1: with webhooks)
	$(PYTHON) -c 'from mcpop.cli.main import run; run()' operator run $(if $(WEBHOOKS),$(WEBHOOK_FLAGS)) $(ARGS)

build: ## build the operator image (tools/image: Debian bases, wheels, buildah; cached by content)
	$(PYTHON) tools/image build $(ARGS)

test: ## run the test suite (the README's test command)
	$(PYTHON) -m pytest $(ARGS)

generate: ## regenerate everything derived: CRDs, the chart's copies, the docs' references, the golden files
	$(PYTHON) tools/gen-crds && $(PYTHON) tools/gen-chart && $(PYTHON) tools/gen-docs && $(PYTHON) -m pytest -q --update-golden

manifests: ## regenerate the CRDs from the models (schemas/) and the chart's CRDs and ClusterRole
	$(PYTHON) tools/gen-crds

docker-build: ## build the operator image and the mcpop-bridge image (OCI archive)
	$(PYTHON) tools/image build $(ARGS) && tools/bridge image

deploy: ## install or upgrade the chart (chart/mcp-operator) into NAMESPACE with the pinned helm
	tools/helm upgrade --install $(RELEASE) chart/mcp-operator -n $(NAMESPACE) --create-namespace $(ARGS)

release: ## build, push and sign the images and the chart (tools/release; ARGS='--registry R --version V')
	$(PYTHON) tools/release $(ARGS)

docs: ## build the documentation site into site/ (mkdocs --strict)
	$(PYTHON) -m mkdocs build --strict
