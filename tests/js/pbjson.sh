#!/usr/bin/env bash
# ctest entry for integration.js_pbjson: our proto3 JSON (pbjson.c) against
# npm protobufjs (pbjson.test.mjs). Needs FLEET_PBJSON_FIXTURE (the helper
# program), node, npm.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${FLEET_PBJSON_FIXTURE:?FLEET_PBJSON_FIXTURE must name the fleet_pbjson_fixture program}"
cd "$here"
# shellcheck source=lib.sh
source "$here/lib.sh"
js_need_programs "$FLEET_PBJSON_FIXTURE" node npm
js_need_modules protobufjs
exec node --test --test-reporter=spec pbjson.test.mjs
