# Two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.peerline-installed

.PHONY: demo test lint typecheck unit soak bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/peerline demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# The long runs: the fuzz suite with 1,000 examples per platform; thousands of messages through
# injected faults; a bot killed with SIGKILL dozens of times (each prints its figures).
soak: $(STAMP)
	$(BIN)/pytest -m soak

bench: $(STAMP)
	$(BIN)/python -m bench.routing_sim
	$(BIN)/python -m bench.routing_scale
	$(BIN)/python -m bench.relay_overhead
	$(BIN)/python -m bench.followups
	$(BIN)/python -m bench.stranger_flood
	$(BIN)/python -m bench.bare_relay
	$(BIN)/python -m bench.relay_vs_bare
	$(BIN)/python -m bench.relay_scale
	$(BIN)/python -m bench.signal_bare_relay
	$(BIN)/python -m bench.signal_relay_vs_bare

clean:
	rm -rf $(VENV) build *.egg-info
