#!/usr/bin/env bash
# Install everything dockyard and its tests need on a fresh Debian 12 machine (run as root):
# Debian packages (the OCI runtime, busybox for base images, and the peer tools the tests use for
# interoperability), then a virtualenv in .venv with pinned Python packages and dockyard itself.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-pip   # the interpreter (3.11 on Debian 12)
  runc                                # the OCI runtime containers run on
  busybox-static                      # base images for the demo and the tests
  ca-certificates openssl             # TLS to registries; tests make their own CA
  tar gzip bzip2 xz-utils zstd        # peers for archive tests
  skopeo umoci                        # independent readers/writers of image archives
  docker-registry apache2-utils       # the CNCF registry and htpasswd, for registry tests
  docker.io                           # the docker CLI (API tests) and dockerd (benchmark peer)
  tini                                # /usr/bin/docker-init: `run --init` mounts it as Docker does
  iproute2 util-linux procps          # ip, findmnt, ps; unshare and nsenter (network namespaces)
  netavark aardvark-dns iptables      # bridge networks: podman's network stack (in /usr/lib/podman)
  gcc libc6-dev                       # tests build a static helper for containers (a renameat2 swapper)
  e2fsprogs mount                     # power-cut tests: mkfs.ext4 on a loop-mounted image
  strace                              # crash tests: kill -9 at exact syscalls (strace -e inject)
  docker-compose                      # tests/interop: compose 1.29 drives dockyard serve and dockerd
)
# bench/ only (not the tests): the peers of bench_all.py, installed with `scripts/install.sh --bench`
BENCH_PACKAGES=(buildah)
[ "${1:-}" = "--bench" ] && APT_PACKAGES+=("${BENCH_PACKAGES[@]}")

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# `run --init` looks docker-init up in PATH as dockerd does (docker.io links it to tini-static)
command -v docker-init >/dev/null || { echo "docker-init (package tini) is missing" >&2; exit 1; }
# The Debian package starts a registry on :5000 and dockerd as services; tests start their own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry docker docker.socket >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -r requirements-ci.txt
# An editable install that is a plain path entry (compat mode): setuptools' default editable
# finder is imported by site at every interpreter start (pathlib, re, enum: ~10 ms on each
# `dockyard` command, more than a cached client-mode build takes).
.venv/bin/pip install -q --no-deps -e . --config-settings editable_mode=compat
# The command: pip's console script without the interpreter's `site` (~1 ms of every start; see
# scripts/write_launcher.py)
.venv/bin/python scripts/write_launcher.py >/dev/null
echo "dockyard installed: $(.venv/bin/dockyard --version)"
