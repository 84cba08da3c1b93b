# Two commands a newcomer needs: `make test` and `make demo`. Both set themselves up, idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint setup bwrap clean

setup: $(STAMP) bwrap

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The sandbox needs bubblewrap. Install it when we can (root with apt); otherwise say how.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null; \
	  else \
	    echo "bubblewrap missing: run 'sudo apt-get install -y bubblewrap'; sandbox tests will be skipped" >&2; \
	  fi; }

test: setup
	$(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check agent tools sandbox tests bench
	$(BIN)/mypy agent tools sandbox

demo: setup
	$(BIN)/python -m agent.demo

clean:
	rm -rf $(VENV) build *.egg-info
