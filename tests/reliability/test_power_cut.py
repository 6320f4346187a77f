"""Issue 16.3: a power cut right after an operation returns loses nothing it reported done.

Each test runs one operation on a store on a loop-mounted ext4, cuts the power (tests/reliability/
disk.py: the disk as it is, without a flush), and checks the store on the disk after the cut:
the image the operation made is listed and whole (every layer hashes to its diff ID), its names
are there, and a container runs from it. Before the fix, a loaded image was listed with an empty
layer.tar."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from dockyard.digest import Digest
from tests.conftest import Dockyard
from tests.reliability.conftest import assert_whole, needs_root, on_disk

pytestmark = needs_root


class NextBoot(Dockyard):
    """The CLI as the boot after the cut runs it: with another kernel boot ID (what store/layers
    trusts an unsynced unpacked tree by), bind-mounted over /proc/sys/kernel/random/boot_id in
    a mount namespace of the command's own. A real power cut changes the boot ID; the simulated
    one (disk.py) cannot reboot the host."""

    def __init__(self, root: Path, boot_id: Path) -> None:
        super().__init__(root)
        self.boot_id = boot_id

    def argv(self, *args: str) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" /proc/sys/kernel/random/boot_id && exec "$@"', str(self.boot_id),
                *super().argv(*args)]


def _after_cut(disk, name: str = "after") -> Dockyard:  # noqa: ANN001
    at = disk.cut(name)
    boot_id = disk.folder / f"{name}.boot_id"
    boot_id.write_text(f"{uuid.uuid4()}\n")
    return NextBoot(at / "store", boot_id)


def _ids(dockyard: Dockyard) -> list[str]:
    return sorted(dockyard("images", "-q", "--no-trunc").stdout.split())


def test_load(disk, dockyard: Dockyard, busybox: str) -> None:
    archive = dockyard("save", "busybox").stdout_bytes
    on = on_disk(disk)
    on("load", input=archive)
    after = _after_cut(disk)
    assert _ids(after) == [busybox]
    assert_whole(after.root)
    assert after("run", "--rm", "busybox", "echo", "ran").stdout == "ran\n"


def test_import_tag_and_rmi(disk, busybox_tar: Path) -> None:
    on = on_disk(disk)
    image = on("import", str(busybox_tar), "base:1").stdout.strip()
    on("tag", "base:1", "other:2")
    on("rmi", "base:1")
    after = _after_cut(disk)
    assert after("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout == f"other:2 {image[7:19]}\n"
    assert_whole(after.root)


def test_build(disk, busybox_tar: Path, tmp_path: Path) -> None:
    # Nothing may unmount a container's overlay between the build and the cut: overlayfs syncs
    # its upper file system when unmounted, which would hide a missing fsync. The last step is
    # a COPY: its layer is the newest thing written.
    on = on_disk(disk)
    on("import", str(busybox_tar), "base:1")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "data").write_bytes(b"copied\n" * 1000)
    (ctx / "Dockerfile").write_text("FROM base:1\nRUN echo ran > /ran\nCOPY data /data\n")
    image = on("build", "-q", "-t", "built:1", str(ctx)).stdout.strip()
    # An untagged build whose last step is a metadata step: nothing written after the image
    # record but what the build itself makes durable (the classic builder publishes the images
    # of its steps once, at its end: store.publish_images).
    (ctx / "Dockerfile").write_text("FROM base:1\nRUN echo ran > /ran\nCOPY data /data\nENV LAST=1\n")
    untagged = on("build", "-q", str(ctx)).stdout.strip()
    chain = on("history", "-q", "--no-trunc", untagged).stdout.split()
    after = _after_cut(disk)
    assert image in _ids(after)
    listed = after("images", "-aq", "--no-trunc").stdout.split()
    assert untagged in listed and set(chain) - {"<missing>"} <= set(listed)
    assert_whole(after.root)
    assert after("run", "--rm", "built:1", "cat", "/ran").stdout == "ran\n"


def test_unpacked_layers_of_a_running_container(disk, busybox_tar: Path) -> None:
    """A layer unpacked for a container (diff/) is whole after a cut while the container runs.
    Both containers are on no network: the copy of the store shares its default bridge's ID,
    interface and subnet with the original, whose sleeper still holds that subnet on this
    host (no real machine has both). When the sleeper's endpoint was on the copied disk (its
    journal committed before the cut: a loaded CI run), the copy's bridge could not move
    off the subnet ("Pool overlaps")."""
    on = on_disk(disk)
    on("import", str(busybox_tar), "base:1")
    on("run", "-d", "--network", "none", "--name", "sleeper", "base:1", "sleep", "1000")
    after = _after_cut(disk)
    assert after("run", "--rm", "--network", "none", "base:1", "sh", "-c", "echo ran").stdout == "ran\n"


def test_commit(disk, busybox_tar: Path) -> None:
    on = on_disk(disk)
    on("import", str(busybox_tar), "base:1")
    on("run", "--name", "cc", "base:1", "sh", "-c", "seq 1 20000 > /numbers")
    image = on("commit", "cc", "snap:1").stdout.strip()
    after = _after_cut(disk)  # before `rm cc`, whose unmount would sync the file system
    assert image in _ids(after)
    assert_whole(after.root)
    assert after("run", "--rm", "snap:1", "tail", "-n1", "/numbers").stdout == "20000\n"


def test_pull(disk, dockyard: Dockyard, busybox: str, registry) -> None:
    name = f"{registry.host}/app/bb:1"
    dockyard("tag", "busybox", name)
    dockyard("push", name)
    on = on_disk(disk)
    on("pull", name)
    after = _after_cut(disk)
    store = assert_whole(after.root)
    assert _ids(after) == [busybox]
    digests = json.loads(after("image", "inspect", "-f", "{{json .RepoDigests}}", name).stdout)
    manifest = Digest.parse(digests[0].split("@")[1])
    assert Digest.of_bytes(store.blobs.read(manifest)) == manifest
    assert after("run", "--rm", name, "echo", "ran").stdout == "ran\n"
