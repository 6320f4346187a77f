"""Issue 16.2: `export` and `commit --pause=false` of a running container read its tree while a
process inside keeps swapping directories for symlinks to a host directory. A walk by path
followed them: the host's files went into the export (14 of 30 tries) and into a pushable layer
(4 of 15). The walk now goes by directory descriptors (dockyard.archive.treewalk): the host
directory's name or content must never appear, however many times we try."""

from __future__ import annotations

import io
import secrets
import subprocess
import tarfile
from pathlib import Path

from tests.conftest import Dockyard

EXPORTS = 8
COMMITS = 4
DIRS = 8
# The process inside: exchanges each pair of names (a directory and a symlink to the host
# directory) with renameat2(RENAME_EXCHANGE), as fast as it can: each name is atomically one or
# the other at every instant. Built static, as the image holds only busybox.
SWAPPER_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
int main(int argc, char **argv) {
    for (;;)
        for (int i = 1; i + 1 < argc; i += 2)
            renameat2(AT_FDCWD, argv[i], AT_FDCWD, argv[i + 1], RENAME_EXCHANGE);
}
"""


def _swapper_image(dockyard: Dockyard, tmp_path: Path) -> str:
    ctx = tmp_path / "swapper"
    ctx.mkdir()
    (ctx / "swap.c").write_text(SWAPPER_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(ctx / "swap"), str(ctx / "swap.c")], check=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY swap /swap\n")
    dockyard("build", "-q", "-t", "swapper", str(ctx))
    return "swapper"


def _script(host_dir: Path) -> str:
    """Make /x/d1..dN (each with a file `canary`) and /x/l1..lN -> the host directory, then swap
    each pair for ever."""
    dirs = " ".join(str(n) for n in range(1, DIRS + 1))
    pairs = " ".join(f"/x/d{n} /x/l{n}" for n in range(1, DIRS + 1))
    return (f"for n in {dirs}; do mkdir -p /x/d$n; echo mine > /x/d$n/canary; "
            f"ln -s {host_dir} /x/l$n; done; echo ready; exec /swap {pairs}")


def _names_and_bodies(data: bytes) -> tuple[set[str], bytes]:
    names, bodies = set(), []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            names.add(member.name)
            if member.isfile():
                bodies.append(tar.extractfile(member).read())  # type: ignore[union-attr]
    return names, b"\0".join(bodies)


def test_a_container_swapping_dirs_for_host_symlinks_never_gets_host_files_out(
        dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    secret = f"HOST-SECRET-{secrets.token_hex(8)}".encode()
    (host_dir / "canary").write_bytes(secret)           # the same name as the container's files
    (host_dir / "host-only-file").write_bytes(secret)
    image = _swapper_image(dockyard, tmp_path)
    dockyard("run", "-d", "--name", "swapper", image, "sh", "-c", _script(host_dir))
    for _ in range(100):
        if dockyard("logs", "swapper").stdout == "ready\n":
            break
    seen_own = 0
    for i in range(EXPORTS):
        names, bodies = _names_and_bodies(dockyard("export", "swapper").stdout_bytes)
        assert secret not in bodies, f"export {i}: a host file's content is in the export"
        assert not any(n.endswith("host-only-file") for n in names), f"export {i}: a host file is listed"
        seen_own += b"mine" in bodies
    for i in range(COMMITS):
        image = dockyard("commit", "--pause=false", "swapper", f"snap:{i}").stdout.strip()
        layer = dockyard.store.image(dockyard.store.resolve(image)).layers[-1]
        with layer.open() as stream:
            names, bodies = _names_and_bodies(stream.read())
        assert secret not in bodies, f"commit {i}: a host file's content is in the layer"
        assert not any(n.endswith("host-only-file") for n in names), f"commit {i}: a host file is listed"
        seen_own += b"mine" in bodies
    # The walk still reads the container's own files while they move about.
    assert seen_own > (EXPORTS + COMMITS) // 2
