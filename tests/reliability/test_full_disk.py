"""Issue 16.10: on a full disk `rm -f`, `rmi` and `ps` failed because they wrote state first, and
a failed `run` left its overlay mounted and half-made container directories. Issue 16.16: a full
disk or a read-only store printed a traceback. Here the store lives on a small tmpfs that is
filled to the last block (or remounted read-only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard
from tests.reliability.conftest import mounts_under, needs_root, remove_containers

pytestmark = needs_root


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], capture_output=True)
        remove_containers(Dockyard(mnt / "store"))
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(mnt: Path) -> None:
    """Every block taken: one big file, then small ones for the last pages."""
    for i, chunk in enumerate([1 << 16] + [4096] * 16):
        fd = os.open(mnt / f"filler{i or ''}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
        finally:
            os.close(fd)
    st = os.statvfs(mnt)
    assert st.f_bavail * st.f_frsize < 8192


def _one_error_line(r, what: str) -> None:  # noqa: ANN001
    assert r.returncode != 0 and r.stdout == "", what
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"{what}: {r.stderr}"


def test_removal_works_on_a_full_disk(small_disk: Path, busybox_tar: Path) -> None:
    dockyard = Dockyard(small_disk / "store")
    dockyard("import", str(busybox_tar), "bb:1")
    dockyard("tag", "bb:1", "bb:2")
    dockyard("run", "-d", "--name", "running", "bb:1", "sleep", "1000")
    dockyard("create", "--name", "created", "bb:1", "true")
    _fill(small_disk)
    # A run that cannot be made fails with one line and leaves nothing half made.
    containers = sorted(os.listdir(small_disk / "store" / "containers"))
    failed = dockyard("run", "--rm", "bb:1", "true", check=False)
    _one_error_line(failed, "run")
    assert "no space left on device" in failed.stderr
    assert sorted(os.listdir(small_disk / "store" / "containers")) == containers
    assert len(dockyard("ps", "-aq").stdout.split()) == 2
    assert dockyard("images", "--format", "{{.Tag}}").stdout.split() == ["1", "2"]
    assert dockyard("rmi", "bb:2").stdout == "Untagged: bb:2\n"
    dockyard("rm", "-f", "running")
    dockyard("rm", "created")
    assert dockyard("rmi", "bb:1").stdout.startswith("Untagged: bb:1\nDeleted: ")
    assert dockyard("ps", "-aq").stdout == "" and dockyard("images", "-q").stdout == ""
    assert mounts_under(small_disk) == []
    assert os.listdir(small_disk / "store" / "containers") == []
    assert os.listdir(small_disk / "store" / "tmp") == []


def test_a_full_disk_and_a_read_only_store_are_one_error_line(small_disk: Path, busybox_tar: Path) -> None:
    dockyard = Dockyard(small_disk / "store")
    dockyard("import", str(busybox_tar), "bb:1")
    archive = dockyard("save", "bb:1").stdout_bytes
    dockyard("rmi", "bb:1")
    _fill(small_disk)
    for args, data in ((["load"], archive), (["import", str(busybox_tar), "x:1"], None),
                       (["tag", "nothing", "x"], None)):
        _one_error_line(dockyard(*args, input=data, check=False), " ".join(args))
    (small_disk / "filler").unlink()
    dockyard("load", input=archive)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert dockyard("images", "--format", "{{.Repository}}").stdout == "bb\n"
    r = dockyard("tag", "bb:1", "bb:2", check=False)
    _one_error_line(r, "tag on a read-only store")
    assert "read-only file system" in r.stderr
    _one_error_line(dockyard("load", input=archive, check=False), "load on a read-only store")


def test_an_empty_root_is_an_error(tmp_path: Path) -> None:
    r = Dockyard(tmp_path / "unused").run("--root", "", "images", check=False)
    assert (r.returncode, r.stderr) == (1, "Error: --root: the store directory must not be empty\n")


def test_save_works_on_a_full_disk(small_disk: Path, busybox_tar: Path) -> None:
    """`save` writes nothing in the store but its lease (what it reads, kept from an `rmi -f`
    meanwhile: tests/reliability/test_races.py); a lease that cannot be written on a full disk
    holds the gc lock instead, and the save is the same archive (dockerd's save works on a full
    disk too). No lease file is left."""
    dockyard = Dockyard(small_disk / "store")
    dockyard("import", str(busybox_tar), "bb:1")
    archive = dockyard("save", "bb:1").stdout_bytes
    _fill(small_disk)
    assert dockyard("save", "bb:1").stdout_bytes == archive
    assert not [p for p in (small_disk / "store" / "tmp").rglob("lease-*")]
