# Small front door over CMake/CTest.  `make` builds, `make test` builds with
# ASan+UBSan and runs every test, then every daemon under valgrind, `make demo`
# runs the example pods end to end, `make bench` prints throughput and latency
# figures, `make fuzz` runs every libFuzzer harness for FUZZ_SECONDS each.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

PREFIX     ?= /usr/local
DESTDIR    ?=

DEB_BUILD  ?= build-deb
IMAGE      ?= localhost/interlink:latest

.PHONY: all deps test unit demo bench valgrind chaos fuzz clean install deb deb-test image \
	conformance-htcondor

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
	  ctest --output-on-failure --timeout 1500 -j2
	@$(MAKE) --no-print-directory valgrind

# Binaries, systemd units (paths for PREFIX), example configs under
# share/doc/interlink-c; DESTDIR stages the tree (packaging).
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# The Debian package (CPack; maintainer scripts in deploy/debian/), built
# for /usr in its own build directory.
deb: deps
	cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	cmake --build $(DEB_BUILD) -j $(JOBS) --target interlink interlink-local interlink-slurm interlink-vk \
	  interlink-gateway interlinkctl
	cd $(DEB_BUILD) && cpack -G DEB >/dev/null
	@ls $(DEB_BUILD)/interlink_*.deb

# The package installed into a clean Debian 12 root (mmdebstrap, cached)
# and its daemons run from there: a pod created, run, and its status read.
deb-test: deb
	@scripts/deps.sh test
	IL_DEB=$$(ls $(CURDIR)/$(DEB_BUILD)/interlink_*.deb) IL_BIN_DIR=$(CURDIR)/$(DEB_BUILD)/bin \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_deb.py

# A container image (podman) from a Debian 12 root with the package
# installed; prints its size.
image: deb
	scripts/build-image.sh $$(ls $(CURDIR)/$(DEB_BUILD)/interlink_*.deb) $(IMAGE)

unit: all
	cd $(BUILD) && ctest --output-on-failure -R unit/

demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	scripts/demo.sh $(BUILD)/bin

bench:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	bench/bench.sh $(BUILD)/bin

# The chaos suite (tests/chaos/chaos.py; not part of `make test`): kill -9,
# outages and full disks during create/delete storms, then a per-pod check;
# then the same with interlink-vk and the real API server (chaos_vk.py).
# CHAOS_TRIALS, CHAOS_PODS, CHAOS_VK_TRIALS, ... size it (docs/reliability.md).
chaos: all
	@scripts/deps.sh test
	rc=0; \
	IL_BIN_DIR=$(CURDIR)/$(BUILD)/bin IL_SOURCE_DIR=$(CURDIR) /usr/bin/python3 tests/chaos/chaos.py || rc=1; \
	IL_BIN_DIR=$(CURDIR)/$(BUILD)/bin IL_SOURCE_DIR=$(CURDIR) /usr/bin/python3 tests/chaos/chaos_vk.py || rc=1; \
	exit $$rc

# Every conformance template with interlink-htcondor on the HTCondor pool of
# ../shared/htcondor (make test runs a subset: the conformance-htcondor entry).
conformance-htcondor: all
	@scripts/deps.sh test
	IL_BIN_DIR=$(CURDIR)/$(BUILD)/bin IL_SOURCE_DIR=$(CURDIR) /usr/bin/python3 \
	  tests/conformance/run.py --strict --backend htcondor --budget 900 --bin-dir $(CURDIR)/$(BUILD)/bin

valgrind: all
	tests/valgrind/valgrind.sh $(BUILD)/bin
	/usr/bin/python3 tests/valgrind/valgrind-stack.py $(BUILD)/bin

fuzz:
	@scripts/deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DIL_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz-harnesses
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
