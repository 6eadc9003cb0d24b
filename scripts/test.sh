#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with -Werror, runs
# every unit and integration test (real nats-server), then the same suite
# under ASan/UBSan, and a short libFuzzer run of the decoders. Usage:
# scripts/test.sh [--quick]  (--quick: skip the fuzz and sanitizer passes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

"$root/scripts/deps.sh" --test
jobs=$(nproc)

build() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLEET_TESTS=ON -DFLEET_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

echo "== build (RelWithDebInfo, -Werror)"
build "$root/build"
(cd "$root/tests/js" && npm ci --silent --no-audit --no-fund)
echo "== tests"
(cd "$root/build" && ctest --output-on-failure -j"$jobs" -LE bench)

if [[ "${1:-}" != "--quick" ]]; then
  echo "== fuzzing (libFuzzer, 20 s per target)"
  bash "$root/scripts/fuzz.sh" 20

  echo "== tests under ASan/UBSan"
  build "$root/build-asan" -DFLEET_ASAN=ON
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -LE bench)
fi
