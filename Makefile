# `make demo` and `make test` create .venv when missing, install torch==2.13.0 (CPU build) first,
# then everything else under constraints.txt so no dependency can swap that torch out.
# llama-cpp-python (the gguf extra, part of dev) compiles from source; LLAMA_CMAKE_ARGS keeps the
# build to what ratecraft uses (no llava/mtmd) and leaves out ggml's AMX kernels, which crash on
# this machine's CPUs (segfault in the first quantized matmul): ~4 minutes on 2 cores. The
# AVX-512 kernels are built only where the CPU has them.
LLAMA_AVX512 := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo -DGGML_AVX512=ON \
	-DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON)
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_BMI2=ON -DGGML_FMA=ON -DGGML_F16C=ON $(LLAMA_AVX512)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-deps install clean zarr3-env

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# zarr 3 beside the main env's zarr 2 (SpikeInterface pins zarr < 3 and numcodecs < 0.16 on
# Python 3.11): ratecraft alone with zarr 3, for ratecraft.integrations.zarr3. Its test
# (tests/integrations/test_zarr3.py) runs this target itself: ~2 minutes on 2 cores, then a no-op
ZARR3_VENV  := .venv-zarr3
ZARR3_STAMP := $(ZARR3_VENV)/.installed

$(ZARR3_STAMP): pyproject.toml constraints.txt
	test -x $(ZARR3_VENV)/bin/python || $(PYTHON) -m venv $(ZARR3_VENV)
	$(ZARR3_VENV)/bin/python -m pip install -q torch==2.13.0
	$(ZARR3_VENV)/bin/python -m pip install -q -c constraints.txt -e ".[zarr3]"
	touch $(ZARR3_STAMP)

zarr3-env: $(ZARR3_STAMP)

demo: $(STAMP)
	$(BIN)/ratecraft demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/lossless.py

# command-line tools some benchmarks compare against (benchmarks/ecosystem.py: WavPack;
# benchmarks/lossless.py: the flac CLI, else it falls back to libsndfile's FLAC)
bench-deps:
	command -v wavpack >/dev/null || $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y wavpack
	command -v flac >/dev/null || $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y flac

clean:
	rm -rf $(VENV) $(ZARR3_VENV) .venv-zarr3.lock ratecraft-demo .pytest_cache
