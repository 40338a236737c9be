#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS -- run every libFuzzer harness of BUILD_DIR/bin
# (built with -DIL_FUZZ=ON) for SECONDS each, starting from its seed corpus
# in tests/fuzz/corpus/<name>.  New interesting inputs go to
# BUILD_DIR/fuzz-corpus/<name> (the seeds in the repository are only read),
# crashes to BUILD_DIR/fuzz-crashes/<name>-crash-*.  Exits non-zero if any
# harness found a crash, a leak or a broken property.  See docs/fuzzing.md.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR SECONDS" >&2; exit 2; }
build=$(cd "$1" && pwd)
seconds=$2
src=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for bin in "$build"/bin/fuzz_*; do
    name=$(basename "$bin")
    corpus=${name#fuzz_}
    mkdir -p "$build/fuzz-corpus/$corpus" "$build/fuzz-crashes"
    echo "fuzz: $name for ${seconds}s" >&2
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$build/fuzz-crashes/$corpus-" \
            "$build/fuzz-corpus/$corpus" "$src/tests/fuzz/corpus/$corpus" \
            > "$build/fuzz-$corpus.log" 2>&1; then
        failed+=("$name")
        tail -n 40 "$build/fuzz-$corpus.log" >&2
    else
        grep -E "^Done|#[0-9]+ +DONE" "$build/fuzz-$corpus.log" | tail -n 1 >&2
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $build/fuzz-crashes)" >&2
    exit 1
fi
echo "fuzz: every harness ran ${seconds}s without a finding" >&2
