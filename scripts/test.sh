#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with -Werror, runs
# every unit and integration test (real nats-server), then the same suite
# under ASan/UBSan and under TSan, a short libFuzzer run of the decoders, and
# the container image proof (installing podman and debootstrap). Usage:
# scripts/test.sh [--quick]  (--quick: skip the fuzz, sanitizer and container passes)
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

  # ThreadSanitizer (DESIGN.md §10): the whole suite but js_forgers, whose
  # flood test bounds the supervisor's RSS, which TSan's shadow memory
  # multiplies (it runs above and under ASan). nats.c and libmicrohttpd are
  # not instrumented; their locks are still seen through libc's pthread calls.
  echo "== tests under TSan"
  build "$root/build-tsan" -DFLEET_TSAN=ON
  (cd "$root/build-tsan" && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j"$jobs" -LE bench -E js_forgers)

  # The container proof: the image is built and run every time (podman and
  # debootstrap are installed here when missing; the base image is cached
  # in /var/tmp/fleet-docker). prove.sh exits 77 only when this machine
  # cannot run a container at all, and prints why.
  echo "== container image proof (tests/docker/prove.sh)"
  "$root/scripts/deps.sh" --container
  rc=0
  bash "$root/tests/docker/prove.sh" || rc=$?
  if [[ $rc -eq 77 ]]; then
    echo "container proof skipped by prove.sh: this machine cannot run containers (see above)"
  elif [[ $rc -ne 0 ]]; then
    echo "container proof FAILED (exit $rc; see its output above)"
    exit "$rc"
  fi
fi
