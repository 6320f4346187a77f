"""Fixtures of the builder's tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.api.conftest import start_server


@pytest.fixture
def daemon(store_root: Path):  # noqa: ANN201
    """A `dockyard serve` on the test's store, for client-mode builds (`-H`)."""
    tmp = Path(tempfile.mkdtemp(prefix="dy-cli-", dir="/tmp"))  # short: socket paths <= 107 bytes
    server = start_server(store_root, tmp)
    yield server
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def fresh_store_image_id(dockyard, tmp_path: Path, ctx: Path, tag: str, env: dict[str, str]) -> str:  # noqa: ANN001
    """`tag` built from `ctx` in a fresh store holding only `dockyard`'s busybox: its image ID
    (a reproducible build gives the same one whatever the first store reused)."""
    import json

    from tests.conftest import Dockyard

    fresh = Dockyard(tmp_path / "fresh")
    dockyard("save", "-o", str(tmp_path / "base.tar"), "busybox:latest")
    fresh("load", "-i", str(tmp_path / "base.tar"))
    fresh("build", "-q", "-t", tag, str(ctx), env=env)
    return json.loads(fresh("image", "inspect", tag).stdout)[0]["Id"]


@pytest.fixture
def ramfs(tmp_path: Path):  # noqa: ANN201
    """A ramfs mounted at tmp_path/ramfs: a file system whose times store/filesums.py does not
    know to be stamped by this kernel's clock, so its files keep the long margin (TRUST_AFTER)."""
    import subprocess

    point = tmp_path / "ramfs"
    point.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(point)], check=True)
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)
