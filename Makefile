# Thin wrapper: every target installs what it needs (make deps) and builds with CMake.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
APT_PACKAGES = cmake g++ make libeigen3-dev zlib1g-dev libgtest-dev libbenchmark-dev \
  dataset-fashion-mnist python3-torch python3-numpy libopenblas0-pthread \
  libopenmpi-dev openmpi-bin
# Only `make fuzz` needs these (libFuzzer comes with clang's runtime).
FUZZ_PACKAGES = clang libclang-rt-14-dev

.PHONY: deps fuzz-deps apt-install build demo test test-asan test-torch2 bench fuzz gpu-check clean

deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

fuzz-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES) $(FUZZ_PACKAGES)"

# Installs whichever of $(PACKAGES) are missing (apt-get update first).
apt-install:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# The tutorial's workflow: train 3 epochs keeping the latest and best
# checkpoints, "lose the session", resume for a 4th epoch, evaluate the best
# model, plot the metrics, and show what the checkpoint holds. Like the
# tutorials, it trains on all 60,000 training images and validates on the
# test file (--validation test); the resumed run takes that from the checkpoint.
DEMO_DIR ?= checkpoints
demo: build
	rm -f $(DEMO_DIR)/metrics.csv
	./$(BUILD)/torchless train --epochs 3 --batch-size 64 --validation test --checkpoint-dir $(DEMO_DIR) \
	  --metrics $(DEMO_DIR)/metrics.csv
	./$(BUILD)/torchless train --resume $(DEMO_DIR)/current_checkpoint.pt --epochs 4 --checkpoint-dir $(DEMO_DIR) \
	  --metrics $(DEMO_DIR)/metrics.csv
	./$(BUILD)/torchless eval $(DEMO_DIR)/best_model.pt
	./$(BUILD)/torchless plot $(DEMO_DIR)/metrics.csv $(DEMO_DIR)/metrics.svg
	./$(BUILD)/torchless inspect $(DEMO_DIR)/best_model.pt --depth 2

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCHLESS_SANITIZE=ON -DTORCHLESS_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/bench/kernels_bench
	bench/compare_torch --build $(BUILD)

# The interop suites against torch 2.11 (Debian ships 1.13, whose
# weights_only loader cannot read floats): a venv with torch 2.11 from PyPI
# (CPU use of the CUDA wheel, ~5 GB), then every test with TORCHLESS_PYTHON
# pointing at it. Not part of `make test`: it downloads too much for CI.
TORCH2_VENV ?= build-torch2/venv
test-torch2:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES) python3-venv"
	test -x $(TORCH2_VENV)/bin/python || (/usr/bin/python3 -m venv $(TORCH2_VENV) && \
	  $(TORCH2_VENV)/bin/pip install -q torch==2.11.0 numpy)
	cmake -S . -B build-torch2 -DCMAKE_BUILD_TYPE=Release -DTORCHLESS_BENCH=OFF \
	  -DTORCHLESS_PYTHON=$(abspath $(TORCH2_VENV))/bin/python $(CMAKE_FLAGS)
	cmake --build build-torch2 -j $(JOBS)
	cd build-torch2 && ctest --output-on-failure -j $(JOBS)

# libFuzzer + ASan + UBSan, one target per reader (tests/fuzz/<reader>_fuzz.cpp),
# each seeded from tests/fuzz/corpus/<reader> (the checkpoint target also from
# the small fixtures) and run for FUZZ_SECONDS (default 60) in turn. New
# inputs collect in build-fuzz/corpus-<reader>; a crash, leak, timeout or
# undefined behaviour stops the run with the input saved as
# build-fuzz/findings/<reader>-* (turn each into a regression test).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= checkpoint safetensors legacy idx
fuzz: fuzz-deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCHLESS_FUZZ=ON \
	  -DTORCHLESS_TESTS=OFF -DTORCHLESS_BENCH=OFF -DTORCHLESS_CUDA=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(addsuffix _fuzz,$(FUZZ_TARGETS))
	mkdir -p build-fuzz/findings $(addprefix build-fuzz/corpus-,$(FUZZ_TARGETS))
	find tests/data -name '*.pt' -size -16k -exec cp {} build-fuzz/corpus-checkpoint/ \; 2>/dev/null || true
	set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/findings/$$t- build-fuzz/corpus-$$t tests/fuzz/corpus/$$t; \
	done

# The CUDA backend's device check (issue #12), for a GPU machine: builds
# build-gpu for sm_90, runs the CUDA tests, a 1-epoch GPU training against the
# CPU's, the GPU checkpoint in PyTorch, and compare_torch --device cuda; logs
# and summary.txt under $$OUT (default ./gpu-check-out). GPU_CHECK_ARGS=--dry-run
# runs it without a GPU (see tools/gpu-check).
GPU_CHECK_ARGS ?=
gpu-check:
	tools/gpu-check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-torch2 build-gpu gpu-check-out
