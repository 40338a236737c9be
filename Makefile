# Small front door over CMake/CTest.  `make` builds, `make test` builds with
# ASan+UBSan and runs every test, then every daemon under valgrind, `make demo`
# runs the example pods end to end, `make bench` prints throughput and latency
# figures.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps test unit demo bench valgrind clean install

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

# Binaries, systemd units (paths for PREFIX), example configs under
# share/doc/interlink-c; DESTDIR stages the tree (packaging).
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

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

valgrind: all
	scripts/valgrind.sh $(BUILD)/bin
	/usr/bin/python3 scripts/valgrind-stack.py $(BUILD)/bin

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
