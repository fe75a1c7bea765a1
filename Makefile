# Two commands on a fresh machine: `make local` runs the router, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install local label-loop test test-fast test-infra check-node synth lint bench eval clean

$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

local: install ## run the router on http://127.0.0.1:8080 (PORT overrides) with simulated models
	$(PY) -m local.server

label-loop: install ## the whole label loop in process: simulated traffic, labeller, simulated judge, trainer, proposal
	$(PY) -m local.label_loop --requests 3000 --out label-loop-proposal.json --report label-loop-report.json

# pytest-xdist: two workers for a two-core machine (PYTEST_WORKERS=0 runs the tests in one process). loadgroup keeps
# the tests that share an expensive fixture on one worker (tests/conftest.py says which). pytest-benchmark is off:
# no test under tests/ uses it (make bench runs the benchmarks), and under xdist it only warns that it is.
PYTEST_WORKERS ?= 2
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist loadgroup -p no:benchmark

test: check-node install ## unit, handler, infrastructure (synth, cdk-nag, cfn-lint) and end-to-end tests
	$(PY) -m pytest $(PYTEST_XDIST)

test-fast: install ## everything but the infrastructure tests (no jsii start-up, no Node.js needed)
	$(PY) -m pytest $(PYTEST_XDIST) --ignore=tests/infra

check-node: ## synth and the infrastructure tests run aws-cdk-lib on the jsii runtime, which needs Node.js
	@command -v node >/dev/null 2>&1 || { echo "Node.js is required for synth and the infrastructure tests (aws-cdk-lib runs on jsii); install it, or run 'make test-fast' for the other tests" >&2; exit 1; }

test-infra: install check-node ## only the infrastructure tests (synth, cdk-nag, cfn-lint, limits, asset)
	$(PY) -m pytest tests/infra

lint: install ## ruff (lint and format) over the whole tree; mypy over lambdas, stacks, local, tools and benchmarks
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

synth: install check-node ## synthesize the CloudFormation template into cdk.out/ (no AWS account needed)
	CDK_OUTDIR=cdk.out $(PY) app.py

# The peers and the profiler install into benchmarks/ only (their own venvs, benchmarks/portkey/node_modules), never
# into the router's runtime. Without Node.js/npm the Portkey comparison is skipped with a message, and so is the
# profile without py-spy.
bench: install ## production path vs Portkey and LiteLLM, its profile, the router's AWS cost, app overhead, TTFT, cold start, instructions per request, throughput, failover drill, decision speed, label loop, translation gap
	test -x benchmarks/.venv-litellm/bin/litellm || ($(PYTHON) -m venv benchmarks/.venv-litellm && \
		benchmarks/.venv-litellm/bin/pip install --quiet -r benchmarks/requirements-litellm.txt) || \
		echo "LiteLLM's proxy could not be installed: its comparisons will be skipped"
	test -x benchmarks/.venv-profile/bin/py-spy || ($(PYTHON) -m venv benchmarks/.venv-profile && \
		benchmarks/.venv-profile/bin/pip install --quiet -r benchmarks/requirements-profile.txt) || \
		echo "py-spy could not be installed: the profile will be skipped"
	@if ! command -v npm >/dev/null 2>&1; then echo "Node.js/npm not found: the Portkey comparison will be skipped"; \
	elif [ ! -f benchmarks/portkey/node_modules/@portkey-ai/gateway/build/start-server.js ]; then \
		(cd benchmarks/portkey && npm ci --no-audit --no-fund) || echo "Portkey install failed: it will be skipped"; fi
	$(PY) -m benchmarks.production_path --json benchmarks/results/production-path.json
	$(PY) -m benchmarks.profile_production
	$(PY) -m benchmarks.router_cost
	$(PY) -m benchmarks.cold_start
	$(PY) -m benchmarks.first_clients
	$(PY) -m benchmarks.request_instructions --requests 200
	$(PY) -m benchmarks.app_overhead
	$(PY) -m benchmarks.ttft
	$(PY) -m benchmarks.server_throughput
	$(PY) -m benchmarks.failover_drill
	$(PY) -m benchmarks.budget_check
	$(PY) -m benchmarks.decision_breakdown
	$(PY) -m benchmarks.label_loop
	$(PY) benchmarks/multilingual_gap.py
	$(PY) -m pytest benchmarks/bench_decision.py benchmarks/bench_complexity.py --benchmark-only --benchmark-columns=min,median,mean,max
	$(PY) -m benchmarks.learning_curves run --dataset chat --sizes 500 --splits 20 --shuffle --out .benchmarks/gate-shuffled.jsonl
	$(PY) -m benchmarks.learning_curves summary .benchmarks/gate-shuffled.jsonl

eval: install ## the bundled score out of sample, then the learning curves on real verdicts (about an hour on 2 cores)
	mkdir -p .benchmarks
	$(PY) -m tools.train_complexity --data ../shared/eval/routing-benchmark/dev.jsonl --out .benchmarks/scorer_weights.json --no-hashed --l2-grid 1,2,3,5,10,30
	cmp .benchmarks/scorer_weights.json lambdas/routing_engine/scorer_weights.json || { echo "the shipped scorer_weights.json is not what the recipe above makes: retrain it or fix the recipe"; exit 1; }
	$(PY) -m tools.routing_eval --data ../shared/eval/routing-benchmark/dev.jsonl --cv category
	$(PY) -m tools.routing_eval --data ../shared/eval/routing-benchmark/dev.jsonl --cv source
	$(PY) -m tools.routing_eval --data ../shared/eval/routing-benchmark/chat-dev.jsonl  # never trained on: out of sample as it is
	rm -f .benchmarks/curves.jsonl && mkdir -p .benchmarks
	$(PY) -m benchmarks.learning_curves run --dataset chat --sizes 200,500,1000 --splits 5 --out .benchmarks/curves.jsonl
	$(PY) -m benchmarks.learning_curves run --dataset mmlu --sizes 200,500,1000,2000 --splits 5 --out .benchmarks/curves.jsonl
	$(PY) -m benchmarks.learning_curves summary .benchmarks/curves.jsonl --plot .benchmarks/learning-curves.png

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .benchmarks label-loop-proposal.json label-loop-report.json
