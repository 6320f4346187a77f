#!/usr/bin/env bash
# The main job: make a base image from Debian's busybox-static, import it, look at it, save and
# load it again. (Later steps of the project extend this to build and run an image.)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKYARD_ROOT=${DOCKYARD_ROOT:-/var/lib/dockyard}
D=.venv/bin/dockyard
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
scripts/busybox-rootfs.sh -t "$work/busybox.tar"
$D import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest
$D images
$D history busybox
$D save busybox | gzip > "$work/busybox.tar.gz"
$D rmi busybox
$D load -i "$work/busybox.tar.gz"
$D image inspect --format '{{.Id}} {{json .Config.Cmd}}' busybox
