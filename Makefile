# Two commands a newcomer needs: `make test` and `make demo`. Both set themselves up, idempotently, from the
# lock file (requirements.lock: every package pinned with its hashes), so a new release on PyPI changes
# nothing here until `make lock` is run and the new lock is committed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed
LINTED := agent tools sandbox tests bench

.PHONY: test test-fast demo lint setup bwrap browser toolchains lock clean npm-fixtures

setup: $(STAMP) bwrap

# A changed lock or pyproject rebuilds the venv from scratch: nothing left over from an older lock survives.
$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Refresh the lock: newest versions within pyproject.toml's ranges, for every platform, with hashes. The lock
# holds the extras the development environment installs (dev; ray so the Ray executor's tests run; bedrock
# and vertex so the suite runs the SDK's Bedrock and Vertex AI clients; github-app so the suite signs and
# checks GitHub App tokens).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra ray --extra bedrock --extra vertex --extra github-app --universal \
	  --python-version 3.11 --generate-hashes \
	  --upgrade --quiet --output-file $(LOCK)

# The sandbox needs bubblewrap. Install it when we can (root with apt); otherwise say how.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null; \
	  else \
	    echo "bubblewrap missing: run 'sudo apt-get install -y bubblewrap'; sandbox tests will be skipped" >&2; \
	  fi; }

# The run and bench pages are checked in a real headless browser: Debian's chromium, never a downloaded one.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else \
	    echo "chromium missing: run 'sudo apt-get install -y chromium'; browser tests will be skipped" >&2; \
	  fi; }

# The Node.js and Go toolchains the suite's fixture repositories run in the sandbox: Debian's packages (nodejs,
# npm, golang-go) when a command is missing; tests that need one are skipped without it.
toolchains:
	@missing=""; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v go >/dev/null 2>&1 || missing="$$missing golang-go"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else \
	    echo "missing:$$missing: run 'sudo apt-get install -y$$missing'; their tests will be skipped" >&2; \
	  fi; \
	fi

# Jest and Vitest for the runner tests (tests/test_runners.py), pinned, from the npm registry, into a cache
# the tests read (never at test time); skipped with a note when npm is missing or offline.
# Jest and Vitest for the runner tests, installed with `npm ci` from the committed lock (tests/npm/), so a new
# release on the registry changes nothing here; a changed lock reinstalls.
NPM_FIXTURES := .cache/npm-fixtures
npm-fixtures: $(NPM_FIXTURES)/.installed
$(NPM_FIXTURES)/.installed: tests/npm/package.json tests/npm/package-lock.json | toolchains
	@if command -v npm >/dev/null 2>&1; then \
	  rm -rf $(NPM_FIXTURES) && mkdir -p $(NPM_FIXTURES) && cp tests/npm/package.json tests/npm/package-lock.json $(NPM_FIXTURES)/ && \
	  (cd $(NPM_FIXTURES) && npm ci --no-audit --no-fund --silent) && touch $@ || \
	  echo "jest/vitest could not be installed; their runner tests will be skipped" >&2; \
	else \
	  echo "npm missing: jest/vitest runner tests will be skipped" >&2; \
	fi

# Everything: unit tests and the end-to-end tests through the real CLI, bwrap, git, chromium, node, go and the
# stand-ins.
test: setup browser toolchains npm-fixtures
	$(BIN)/python -m pytest -n 2 -q

# The inner loop: unit-level tests only (end-to-end modules are marked `slow`).
test-fast: setup
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy --strict agent tools sandbox

demo: setup
	$(BIN)/python -m agent.demo

clean:
	rm -rf $(VENV) build *.egg-info
