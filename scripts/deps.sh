#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need.
# Idempotent: packages already present are not touched, and apt-get is only
# called when something is missing.  Usage: scripts/deps.sh [build|demo|test|fuzz]
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev
            libjansson-dev libyaml-dev libssl-dev libgnutls28-dev libsqlite3-dev libjwt-dev
            libcmocka-dev zlib1g-dev)
runtime_pkgs=(bubblewrap podman runc uidmap busybox-static)
# iperf3: make bench's pod tunnel throughput (bench/bench-tunnel.sh).
runtime_pkgs+=(iperf3)
# slurm-wlm and munge are installed by tests/slurm/slurm-up.sh itself, which
# keeps their packaged services from starting (so do slurmrestd and
# slurm-wlm-jwt-plugin, with SLURM_UP_REST=1).  mariadb-server and slurmdbd:
# SLURM accounting for tests/integration/test_slurm_fallback.py (slurm-up.sh
# runs its own mariadbd and slurmdbd; the packaged services are not used).
test_pkgs=(python3 python3-pytest python3-yaml python3-kubernetes python3-websocket python3-jwt python3-cryptography valgrind openssl charliecloud
           mariadb-server slurmdbd openmpi-bin etcd-server mmdebstrap dpkg-dev systemd
           prometheus)
# etcd-server: the real Kubernetes control plane (../shared/k8s, realkube.py);
# mmdebstrap, dpkg-dev (dpkg-shlibdeps): make deb, make deb-test, make image;
# prometheus: promtool checks every daemon's /metrics and deploy/monitoring's rules.
# make fuzz: clang's libFuzzer and sanitizer runtimes (tests/fuzz, docs/fuzzing.md).
fuzz_pkgs=(clang libclang-rt-14-dev)
# make test builds the fuzz harnesses as make fuzz does (the fuzz-build test).
test_pkgs+=("${fuzz_pkgs[@]}")
# The notebook end to end (tests/integration/test_vk_jupyter.py): Debian's
# Jupyter server and kernel, a WebSocket client, network namespaces with a
# firewall (ip netns, nsenter from util-linux, iptables).
test_pkgs+=(jupyter-server python3-ipykernel python3-websocket iproute2 iptables util-linux)
# The HTCondor pool of ../shared/htcondor (tests/integration/test_htcondor_*):
# its binaries' runtime libraries.
test_pkgs+=(libpcre2-8-0 libssl3 libuuid1 libgomp1 libstdc++6)

want=("${build_pkgs[@]}" "${runtime_pkgs[@]}")
# kubectl for the manifests' test: Debian's kubernetes-client unless one is there.
command -v kubectl >/dev/null || test_pkgs+=(kubernetes-client)
case "${1:-build}" in
  build) want=("${build_pkgs[@]}") ;;
  demo)  ;;
  test)  want+=("${test_pkgs[@]}") ;;
  fuzz)  want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "usage: $0 [build|demo|test|fuzz]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The conformance test's nginx stand-in image (tests/conformance/localimages.py)
# is built from the nginx binary of Debian's nginx package, downloaded into the
# cache it reads, never installed (its service would start).  Fetched here
# because only here may apt-get update run: on a fresh machine the apt lists
# can be missing even when every package above is already installed.
fetch_nginx_deb() {
  local cache="${IL_CONFORMANCE_CACHE:-$HOME/.cache/interlink-conformance}"
  [ -x /usr/sbin/nginx ] && return 0
  compgen -G "$cache/nginx_*.deb" >/dev/null && return 0
  mkdir -p "$cache"
  (cd "$cache" && apt-get download -qq nginx 2>/dev/null) && return 0
  echo "deps: downloading Debian's nginx package for the conformance test" >&2
  $SUDO apt-get update -qq
  if ! (cd "$cache" && apt-get download -qq nginx); then
    echo "deps: cannot download Debian's nginx package into $cache (apt-get download nginx" \
         "failed, above); the conformance test's nginx stand-in image needs it" >&2
    exit 1
  fi
}
if [ "${1:-build}" = test ]; then
  fetch_nginx_deb
fi
