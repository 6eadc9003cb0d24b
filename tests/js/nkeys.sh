#!/usr/bin/env bash
# ctest entry for integration.js_nkeys: nkey interop between our C code and
# npm @nats-io/nkeys (nkeys.test.mjs). Needs FLEET_BIN_DIR (the build's
# supervisor/ directory), FLEET_SEAL_ENVELOPE (the helper program), node, npm.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${FLEET_BIN_DIR:?FLEET_BIN_DIR must name the supervisor/ directory of the build}"
: "${FLEET_SEAL_ENVELOPE:?FLEET_SEAL_ENVELOPE must name the fleet_seal_envelope program}"
cd "$here"
if [[ ! -d node_modules/@nats-io/nkeys || ! -d node_modules/protobufjs ]]; then
  echo "nkeys.sh: node_modules incomplete, running npm ci"
  npm ci --no-audit --no-fund
fi
exec node --test --test-reporter=spec nkeys.test.mjs
