#!/bin/sh
# build-check.sh SOURCE_DIR BUILD_DIR -- build every fuzz harness as
# `make fuzz` does (clang, libFuzzer, -Werror), so a change that only clang
# warns about, or that breaks a harness, fails `make test` instead of the next
# `make fuzz`.  The ordinary build replays the corpora (fuzz/<name> tests).
set -eu
src=$1
out=$2
if ! command -v clang >/dev/null; then
    echo "SKIP: clang is not installed (scripts/deps.sh test installs it)"
    exit 77
fi
cmake -S "$src" -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DIL_FUZZ=ON >/dev/null
cmake --build "$out" -j 2 --target fuzz-harnesses
