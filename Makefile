# Small front door over CMake/CTest.  `make` builds, `make test` builds with
# ASan+UBSan and runs every test, then every daemon under valgrind, `make demo`
# runs the example pods end to end, `make bench` prints throughput and latency
# figures, `make fuzz` runs every libFuzzer harness for FUZZ_SECONDS each.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps test unit demo bench valgrind chaos fuzz clean

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

test:
	@scripts/deps.sh test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIL_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure --timeout 900
	@$(MAKE) --no-print-directory valgrind

unit: all
	cd $(BUILD) && ctest --output-on-failure -R unit/

demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	scripts/demo.sh $(BUILD)/bin

bench:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	scripts/bench.sh $(BUILD)/bin

# The chaos suite (tests/chaos/chaos.py; not part of `make test`): kill -9,
# outages and full disks during create/delete storms, then a per-pod check.
# CHAOS_TRIALS, CHAOS_PODS, CHAOS_SLURM_TRIALS, ... size it (docs/reliability.md).
chaos: all
	@scripts/deps.sh test
	IL_BIN_DIR=$(CURDIR)/$(BUILD)/bin IL_SOURCE_DIR=$(CURDIR) /usr/bin/python3 tests/chaos/chaos.py

valgrind: all
	scripts/valgrind.sh $(BUILD)/bin
	/usr/bin/python3 scripts/valgrind-stack.py $(BUILD)/bin

fuzz:
	@scripts/deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DIL_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz-harnesses
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
