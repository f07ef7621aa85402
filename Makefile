# Thin aliases. Everything installs into .venv; system packages via scripts/setup_system.sh.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp
# test workers (pytest-xdist, one file per worker): every core by default
TEST_JOBS ?= auto
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo demo-cnn test lint bench fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py scripts/setup_system.sh scripts/setup_verilator.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch is pinned exactly: any other version or range pulls a multi-GB CUDA build here
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[compress,dev,sweep]'
	bash scripts/setup_system.sh
	@if [ -f scripts/setup_verilator.sh ]; then bash scripts/setup_verilator.sh; fi
	@touch $(STAMP)

demo: setup
	bash scripts/demo.sh

# LeNet-5 (convolutions) end to end: compress, build, csim, cosim on 256 test images
demo-cnn: setup
	bash scripts/demo_cnn.sh

test: setup lint
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile tests hw_tests

lint: setup
	$(VENV)/bin/ruff check fpga_flow tests hw_tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy fpga_flow

# 16,000 mutated ONNX files through the reader (make test runs 2,000): 0 tracebacks expected
fuzz: setup
	$(PY) -W ignore -m tests.fuzz_onnx $${FUZZ_N:-16000}

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info demo_out demo_cnn_out .pytest_cache
