# Everything installs into .venv from nothing; `make demo` and `make test` both do it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_TWEETS := data/sample/sentiment140_30k.csv.gz
DEMO_EXAMPLES ?= 3000

.PHONY: install demo test lint bench-serve bench-batch clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build in the `train` extra; install it first so that no
	# other package's looser requirement can pull a different build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[serve,train,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	$(BIN)/sentiops train --max-examples $(DEMO_EXAMPLES) --promote
	$(BIN)/sentiops batch run --simulate --force
	$(BIN)/sentiops retrain --max-examples 2000
	$(BIN)/sentiops models list
	$(BIN)/sentiops predict "I love this so much, best day ever!" "This is awful. I hate everything about today."

# Benchmarks (not tests): a fresh model under var/bench, then the harnesses; results go to
# benchmarks/results/ and are summarised in the README.
BENCH_HOME := var/bench
$(BENCH_HOME)/registry/aliases.json: $(STAMP)
	SENTIOPS_HOME=$(BENCH_HOME) $(BIN)/sentiops data prepare --input $(DEMO_TWEETS)
	SENTIOPS_HOME=$(BENCH_HOME) $(BIN)/sentiops train --max-examples 1000 --promote

bench-serve: $(BENCH_HOME)/registry/aliases.json
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/serve_bench.py --registry $(BENCH_HOME)/registry

bench-batch: $(BENCH_HOME)/registry/aliases.json
	$(BIN)/python benchmarks/batch_bench.py --registry $(BENCH_HOME)/registry

lint: install
	$(BIN)/ruff check src tests benchmarks

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
