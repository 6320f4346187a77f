"""A COPY of the context whose last layer's tree is unpacked gets its own tree with the equal
files hard-linked from that one (builder/copy/layer.unpack_like_last, archive/apply.py `like`):
the RUN after it sees the new files, and the image is the one a fresh store builds."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dockyard.digest import Digest
from dockyard.store import filesums
from dockyard.store.store import Store
from tests.builder.conftest import fresh_store_image_id
from tests.conftest import Dockyard

EPOCH = "1700000000"
DOCKERFILE = """\
FROM busybox
COPY . /ctx/
RUN cd /ctx && find . -type f | sort > /list && cat $(cat /list) | md5sum > /sum
"""


def _context(path: Path) -> Path:
    (path / "d").mkdir(parents=True)
    for i in range(20):
        (path / "d" / f"f{i}").write_bytes(bytes([i]) * (1000 + i))
    (path / "Dockerfile").write_text(DOCKERFILE)
    for p in [*path.rglob("*"), path]:
        os.utime(p, (1_650_000_000, 1_650_000_000))
    return path


def _copy_layer(cli: Dockyard) -> str:
    """The layer the COPY step made last (kept with the context's records, store/filesums.py;
    the image's own layers are those with SOURCE_DATE_EPOCH's times)."""
    [path] = (cli.root / "filesums").iterdir()
    [diff_id] = json.loads(path.read_bytes().partition(b"\n")[2])["layers"].values()
    return diff_id


@pytest.mark.parametrize("recorded", [False, True], ids=["compared", "by-digest"])
def test_a_changed_context_reuses_the_last_tree(dockyard: Dockyard, busybox: str, tmp_path: Path,
                                                 recorded: bool, request: pytest.FixtureRequest) -> None:
    """`compared`: files on a ramfs younger than filesums.TRUST_AFTER have no records, so the
    bodies are compared; `by-digest`: old enough, both layers keep their files' digests and equal
    ones are linked unread."""
    ctx = _context((tmp_path if recorded else request.getfixturevalue("ramfs")) / "ctx")
    if recorded:
        time.sleep(filesums.trust_margin(os.lstat(ctx / "Dockerfile")) / 1e9 + 0.1)
    env = {"DOCKER_BUILDKIT": "1", "SOURCE_DATE_EPOCH": EPOCH}
    dockyard("build", "-q", "-t", "app:1", str(ctx), env=env)
    first = _copy_layer(dockyard)
    kept = Store(dockyard.root).layers.sums(Digest("sha256", first))
    assert (len(kept) == 21) if recorded else not kept   # d/f0..f19 and Dockerfile
    # one file changed with its size and mtime kept (compared, found different, written), one added
    st = os.lstat(ctx / "d" / "f3")
    (ctx / "d" / "f3").write_bytes(b"\xff" * st.st_size)
    os.utime(ctx / "d" / "f3", ns=(st.st_atime_ns, st.st_mtime_ns))
    (ctx / "d" / "new").write_bytes(b"new\n")
    os.utime(ctx / "d" / "new", (1_650_000_000, 1_650_000_000))
    os.utime(ctx / "d", (1_650_000_000, 1_650_000_000))
    dockyard("build", "-q", "-t", "app:2", str(ctx), env=env)
    second = _copy_layer(dockyard)
    assert second != first
    tree = dockyard.root / "layers" / second / "diff" / "ctx" / "d"
    old = dockyard.root / "layers" / first / "diff" / "ctx" / "d"
    shared = {p.name for p in tree.iterdir() if (old / p.name).exists()
              and os.lstat(p).st_ino == os.lstat(old / p.name).st_ino}
    assert shared == {f"f{i}" for i in range(20)} - {"f3"}
    assert (tree / "f3").read_bytes() == b"\xff" * st.st_size
    assert fresh_store_image_id(dockyard, tmp_path, ctx, "app:2", env) == \
        json.loads(dockyard("image", "inspect", "app:2").stdout)[0]["Id"]
    # the first layer goes (as the collector removes it): the second one's tree stays whole
    store = Store(dockyard.root)
    store.layers.dispose(store.layers.detach(Digest("sha256", first)))
    assert not old.exists()
    assert [(tree / f"f{i}").read_bytes() for i in range(20)] == \
        [b"\xff" * st.st_size if i == 3 else bytes([i]) * (1000 + i) for i in range(20)]
