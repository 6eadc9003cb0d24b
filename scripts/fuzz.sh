#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for
# SECONDS (default 30), starting from the committed seed corpus
# (tests/fuzz/corpus/<target>/). New inputs and any crash reproducer stay in
# build-fuzz/fuzz-out/<target>/; the source tree is never written.
# Exits non-zero when a target crashes, leaks or trips a sanitizer.
#   usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail

seconds=${1:-30}
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (libFuzzer needs it)" >&2; exit 1; }

# Every library is instrumented for coverage and sanitizers; only the fuzz
# targets link the libFuzzer main.
CC=clang cmake -S "$root" -B "$build" -DFLEET_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
  >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_heartbeat fuzz_envelope fuzz_proof fuzz_admin fuzz_micro_reply

status=0
for target in fuzz_heartbeat fuzz_envelope fuzz_proof fuzz_admin fuzz_micro_reply; do
  out=$build/fuzz-out/$target
  mkdir -p "$out/corpus" "$out/artifacts"
  echo "== $target: ${seconds}s"
  if ! (cd "$out" && "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=8192 \
          -artifact_prefix="$out/artifacts/" -print_final_stats=1 \
          "$out/corpus" "$root/tests/fuzz/corpus/$target" 2>&1 | tail -n 25); then
    echo "fuzz.sh: $target FAILED; reproducers in $out/artifacts/" >&2
    status=1
  fi
done
exit $status
