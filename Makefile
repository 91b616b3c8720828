# DistillGuard — the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements-lock.txt
# What `make lock` resolves: every extra, for every platform, on the oldest Python we support.
LOCK_FLAGS := pyproject.toml --extra dev --universal --python-version 3.11 --no-emit-package distillguard \
	--custom-compile-command "make lock"

.PHONY: install test lint format fuzz mutation lock lowest bench demo browser wrk clean model report

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs are reproducible: every dependency at the version pinned in $(LOCK) (see `make lock`).
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Re-resolve the lock after a change to pyproject.toml, keeping every other pin. To upgrade:
# `make lock UPGRADE=--upgrade` (everything) or `make lock UPGRADE="--upgrade-package msgspec"` (one), then `make test`.
# Needs only uv (at its locked version), not the install: after a change to pyproject.toml the old lock may no
# longer install, and the new one is what this makes.
$(BIN)/uv: $(BIN)/python
	$(BIN)/pip install -q -c $(LOCK) uv

lock: $(BIN)/uv
	$(BIN)/uv pip compile $(LOCK_FLAGS) $(UPGRADE) -o $(LOCK)

# The lower bounds in pyproject.toml are tested: the core's dependencies at their lowest allowed versions in a
# separate venv, and the core's tests there (not part of `make test`: it downloads the old releases).
lowest: $(STAMP)
	rm -rf .venv-lowest && $(BIN)/uv venv -q -p 3.11 .venv-lowest
	printf 'pytest>=8\nhypothesis>=6.100\n' | $(BIN)/uv pip compile pyproject.toml - --resolution lowest-direct \
		--python-version 3.11 -q -o .venv-lowest/lowest.txt
	VIRTUAL_ENV=.venv-lowest $(BIN)/uv pip install -q -r .venv-lowest/lowest.txt -e .
	OMP_NUM_THREADS=1 .venv-lowest/bin/python -m pytest -q -p no:cacheprovider tests/test_events.py tests/test_events_fuzz.py \
		tests/detector

# ruff (lint and format), mypy and vulture (dead code): clean, or `make test` fails.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The property tests with fresh random inputs, 20 times their usual budget, and a long atheris session.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_events.py tests/test_events_fuzz.py tests/stream/test_align.py \
		$(wildcard tests/test_cli_files_fuzz.py)
	$(BIN)/python tests/fuzz/fuzz_parse_event.py --write-seeds .cache/fuzz-seeds 200
	$(BIN)/python tests/fuzz/fuzz_parse_event.py .cache/fuzz-seeds -max_total_time=300 -max_len=65536

# Mutation testing with cosmic-ray (not part of `make test`: minutes per module) in a scratch copy of the tree:
# the score and each surviving mutant's diff in .cache/mutation/<module>.md (docs/mutation.md explains survivors).
# All modules of tests/mutation.py, or some: `make mutation MODULES="inputs events"`.
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation $(MODULES)

# Debian's chromium for the console's end-to-end test (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium: install failed; browser tests will skip"; \
	  else echo "chromium not installed and not root: browser tests will skip"; fi; }

# Debian's wrk, the load generator of the review API benchmark.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || echo "wrk: install failed; the api benchmark will stop"; \
	  else echo "wrk not installed and not root: the api benchmark will stop"; fi; }

# The suite in parallel worker processes (pytest-xdist). More workers than the 2 cores of the test machine: much
# of the suite waits on the broker, worker and API subprocesses, PostgreSQL and Chromium rather than computing.
# --dist loadgroup keeps the tests of one xdist_group mark (those sharing an expensive session fixture) on one worker.
TEST_WORKERS ?= 4

test: $(STAMP) browser lint
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP) wrk
	$(BIN)/python -m bench.run

# Re-render the README's generated tables (evaluation, benchmarks, configuration) from bench/results and Settings.
report: $(STAMP)
	$(BIN)/python -m bench.report --write README.md

demo: $(STAMP)
	$(BIN)/distillguard demo

model: $(STAMP)
	$(BIN)/distillguard train --out detector/models/default.joblib

clean:
	rm -rf $(VENV) .venv-lowest build *.egg-info .pytest_cache
