#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need.
# Idempotent: packages already present are not touched, and apt-get is only
# called when something is missing.  Usage: scripts/deps.sh [build|demo|test]
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev
            libjansson-dev libyaml-dev libssl-dev libgnutls28-dev libsqlite3-dev libjwt-dev
            libcmocka-dev)
runtime_pkgs=(bubblewrap podman runc uidmap busybox-static)
# slurm-wlm and munge are installed by tests/slurm/slurm-up.sh itself, which
# keeps their packaged services from starting.
test_pkgs=(python3 python3-pytest python3-yaml python3-kubernetes valgrind openssl charliecloud)

want=("${build_pkgs[@]}" "${runtime_pkgs[@]}")
case "${1:-build}" in
  build) want=("${build_pkgs[@]}") ;;
  demo)  ;;
  test)  want+=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|demo|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
