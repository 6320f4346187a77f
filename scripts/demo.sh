#!/usr/bin/env bash
# The main job: make a base image from Debian's busybox-static, build an example image on it from a
# Dockerfile, run it, and show what was made (images, history); then save and load it again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKYARD_ROOT=${DOCKYARD_ROOT:-/var/lib/dockyard}
D=.venv/bin/dockyard
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# 1. A base image: busybox-static with one link per applet, imported as a one-layer image.
scripts/busybox-rootfs.sh -t "$work/busybox.tar"
$D import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest

# 2. Build an example image from a Dockerfile (classic builder: a container and a layer per step).
mkdir "$work/ctx"
echo "hello from a file in the build context" > "$work/ctx/greeting.txt"
cat > "$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox
WORKDIR /app
COPY greeting.txt .
RUN echo "built by dockyard on $(uname -m)" > /app/built
ENV WHO=world
CMD ["sh", "-c", "cat /app/greeting.txt /app/built; echo hello $WHO"]
DOCKERFILE
$D build -t example:latest "$work/ctx"

# 3. Run it: a real container (namespaces, overlayfs) on runc.
$D run --rm example:latest

# 4. Look at it, and move it through an archive.
$D images
$D history example
$D save example | gzip > "$work/example.tar.gz"
$D rmi example
$D load -i "$work/example.tar.gz"
$D run --rm example:latest
