"""Fixtures of the reliability suite: a disk whose power can be cut, a registry, and the check
that a store keeps every promise (dockyard.store.check) plus nothing left behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from dockyard.store.check import check_store
from dockyard.store.store import Store
from tests.conftest import Dockyard
from tests.reliability.disk import PowerCutDisk

needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mkfs.ext4") is None,
                                reason="needs root (loop mounts) and mkfs.ext4")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[PowerCutDisk]:
    made = PowerCutDisk(tmp_path / "disk")
    try:
        yield made
    finally:
        for mount in made.mounts:  # containers of the stores on it (a failed test leaves them)
            if (mount / "store").is_dir():
                remove_containers(Dockyard(mount / "store"))
        made.close()


@pytest.fixture(autouse=True)
def containers_removed(dockyard: Dockyard) -> Iterator[None]:
    """Each test's containers are force-removed at its end, even when it fails."""
    yield
    remove_containers(dockyard)


def remove_containers(dockyard: Dockyard) -> None:
    folder = dockyard.root / "containers"
    if not (folder.is_dir() and any(folder.iterdir())):  # no container: no CLI start to list them
        return
    ids = dockyard("ps", "-aq", "--no-trunc", check=False).stdout.split()
    if ids:
        dockyard("rm", "-f", *ids, check=False)


@pytest.fixture
def registry(tmp_path: Path):
    from tests.registry.registryd import RegistryServer

    server = RegistryServer(tmp_path / "registry").start()
    try:
        yield server
    finally:
        server.stop()


def mounts_under(base: Path) -> list[str]:
    """Mount points below `base` (what a test must not leave)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(f"{base}/")]


def assert_whole(root: Path) -> Store:
    """Every image and layer of the store at `root` delivers what it promises."""
    store = Store(root)
    report = check_store(store)
    assert report.problems == [], "\n".join(report.problems)
    return store


def on_disk(disk: PowerCutDisk) -> Dockyard:
    return Dockyard(disk.mnt / "store")
