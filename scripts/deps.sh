#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs, only those missing.
# Usage: scripts/deps.sh [--test] [--bench] [--container]   (root, or sudo available)
# --container: what tests/docker/prove.sh needs to build and run the image.
set -euo pipefail

packages=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libnats-dev
          libsodium-dev libcyaml-dev libyaml-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
          nats-server)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(libcmocka-dev nodejs npm clang libclang-rt-14-dev valgrind prometheus chromium) ;;
    --bench) packages+=(valgrind runit s6) ;;
    --container) packages+=(podman runc debootstrap jq) ;;
    *) echo "deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from elsewhere (nvm, a newer install): accept a working node+npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
