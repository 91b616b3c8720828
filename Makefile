# DistillGuard — the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test bench demo browser wrk clean model report

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) build *.egg-info .pytest_cache
