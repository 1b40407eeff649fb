# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test install clean

demo: $(VENV)/.installed  ## the main job: map 100 real conversations, offline, no API key
	$(BIN)/kura run data/oasst_en100.jsonl --out runs/demo

test: $(VENV)/.installed  ## the test suite (real models, real UMAP, real data)
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

clean:
	rm -rf $(VENV) runs .pytest_cache
