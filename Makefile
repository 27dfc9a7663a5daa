# spool's two entry points: `make run` (install and start spool) and `make test` (install and
# run the whole test suite). Both create or reuse .venv and are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles llama.cpp: skip the parts spool never uses (multimodal, tools,
# examples, tests). pip caches the built wheel, so this happens once per machine.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF

.PHONY: run test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-local: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[local,mcp]"
	touch $@

# dev includes the code extra: the code_interpreter sandbox (bubblewrap + a Jupyter kernel) is tested;
# and the mcp extra: MCP tools are tested against a real MCP server written with the same SDK;
# and the postgres extra: the server suite also runs on PostgreSQL (SPOOL_TEST_DATABASE_URL)
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[local,dev,code,mcp,postgres]"
	touch $@ $(VENV)/.installed-local

run: $(VENV)/.installed-local
	$(BIN)/spool $(ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Schemathesis against the spec subset, bounded (FUZZ_ARGS="--max-examples 30 --time-limit 600");
# fails on any 5xx. Minutes long, so not part of `make test` / CI's critical path.
fuzz: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_server_fuzz.py $(FUZZ_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV)
