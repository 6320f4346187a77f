"""Operations racing each other on one store.

Issue 16.5: a build racing `rmi -f` of its base ended "Successfully built" with an image whose
layers were deleted, after which `dockyard images` failed for every image. A build now holds a
lease on what it stands on (store.leases); an image is never recorded without its layers; and
one broken image hides no other from the listing.
Issue 16.9: a `load` whose client drips its archive held the store's gc lock for as long, so
every removal waited for it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from dockyard.digest import Digest
from dockyard.store.check import check_store
from dockyard.store.store import Store
from tests.conftest import REPO, Dockyard
from tests.reliability.conftest import assert_whole
from tests.store.helpers import make_tar

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+ names it; spelled out for clarity)


def _spawn(dockyard: Dockyard, *args: str, stdin=None) -> subprocess.Popen:  # noqa: ANN001
    return subprocess.Popen([sys.executable, "-m", "dockyard", *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dockyard.env, cwd=REPO)


def test_a_build_keeps_its_base_while_rmi_f_removes_it(dockyard: Dockyard, busybox_tar: Path,
                                                     tmp_path: Path) -> None:
    """The build is stopped right after its FROM step (outside any lock: it blocks writing its
    second line into a full pipe), `rmi -f` deletes the base (it has no child image yet), then
    the build goes on."""
    dockyard("import", str(busybox_tar), "base:1")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_bytes(b"copied\n")
    (ctx / "Dockerfile").write_text("FROM base:1\nCOPY f /f\nRUN cat /f > /g\n")
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    first = b"Step 1/3 : FROM base:1\n"
    os.write(write_end, b"x" * (4096 - len(first)))  # room for the first line, not the second
    build = subprocess.Popen([sys.executable, "-m", "dockyard", "build", "-t", "child:1", str(ctx)],
                             stdout=write_end, stderr=subprocess.PIPE, env=dockyard.env, cwd=REPO)
    os.close(write_end)
    try:
        for _ in range(600):  # until the build has written its first line (the pipe is full)
            if fcntl.ioctl(read_end, termios.FIONREAD, b"\0\0\0\0") == (4096).to_bytes(4, sys.byteorder):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        removed = dockyard("rmi", "-f", "base:1").stdout
        assert removed.startswith("Untagged: base:1\nDeleted: sha256:"), removed
    finally:
        with os.fdopen(read_end, "rb") as r:
            out = r.read()
    err = build.stderr.read()  # type: ignore[union-attr]
    assert build.wait(timeout=300) == 0, err.decode()
    assert b"Successfully tagged child:1" in out
    store = assert_whole(dockyard.root)  # the child's layers (the base's included) are whole
    assert dockyard("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == "child:1\n"
    assert dockyard("run", "--rm", "child:1", "cat", "/g").stdout == "copied\n"
    # Once the build is over, nothing keeps what only it used: an rmi collects it all.
    dockyard("rmi", "child:1")
    assert store.layers.all() == [] and store.image_ids() == []


def test_a_lease_keeps_an_image_that_rmi_f_deleted(dockyard: Dockyard, busybox: str) -> None:
    store = Store(dockyard.root)
    image_id = Digest.parse(busybox)
    diff_ids = store.image(image_id).config.diff_ids
    with store.lease() as lease:
        with store.ingesting():
            lease.keep_image(image_id)
        dockyard("rmi", "-f", "busybox")  # another process: the name and record go...
        assert store.image_ids() == []
        assert all(store.layers.exists(d) for d in diff_ids)  # ...what the lease keeps stays
        assert store.blobs.exists(image_id)
    # The lease's end collects what it alone kept (CI of session 17 found the config blob of an
    # image that a concurrent rmi deleted during a save left behind for good)
    assert not any(store.layers.exists(d) for d in diff_ids)
    assert not store.blobs.exists(image_id)
    assert check_store(store).leftovers == []


def test_what_a_lease_kept_goes_at_the_next_start_if_its_end_cannot_collect(
        dockyard: Dockyard, busybox: str) -> None:
    store = Store(dockyard.root)
    image_id = Digest.parse(busybox)
    with store.lease() as lease:
        with store.ingesting():
            lease.keep_image(image_id)
        dockyard("rmi", "-f", "busybox")
        ingest = store.ingesting()  # another ingest under way when the lease ends
        ingest.__enter__()
    try:
        assert store.blobs.exists(image_id)  # the collection would have waited: it is owed
    finally:
        ingest.__exit__(None, None, None)
    dockyard("images")  # the next start pays it
    assert not store.blobs.exists(image_id)
    assert check_store(store).leftovers == []


def test_one_broken_image_hides_no_other(dockyard: Dockyard, busybox: str, busybox_tar: Path) -> None:
    other = dockyard("import", "-c", "LABEL x=1", str(busybox_tar), "other:1").stdout.strip()
    store = Store(dockyard.root)
    store.blobs.path(Digest.parse(busybox)).unlink()  # busybox's config blob is lost
    assert dockyard("images", "-q", "--no-trunc").stdout.split() == [other]
    report = dockyard("system", "check", check=False)
    assert report.returncode == 1 and f"image {busybox}: config blob missing" in report.stdout


def test_a_slow_load_does_not_hold_up_removals(dockyard: Dockyard, busybox: str, busybox_tar: Path) -> None:
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("import", "-c", "LABEL x=1", str(busybox_tar), "other:1")
    load = _spawn(dockyard, "load", stdin=subprocess.PIPE)
    assert load.stdin is not None
    load.stdin.write(archive[: len(archive) // 2])  # half of it, then the client waits
    load.stdin.flush()
    time.sleep(0.5)
    started = time.monotonic()
    removal = threading.Thread(target=dockyard, args=("rmi", "other:1"))
    removal.start()
    removal.join(timeout=30)
    assert not removal.is_alive(), "rmi waited for the dripping load"
    assert time.monotonic() - started < 30
    load.stdin.write(archive[len(archive) // 2:])
    load.stdin.close()
    assert load.wait(timeout=60) == 0
    assert dockyard("images", "--format", "{{.Repository}}").stdout == "busybox\n"
    assert_whole(dockyard.root)


def test_a_save_ends_whole_while_rmi_f_deletes_its_image(dockyard: Dockyard, busybox: str) -> None:
    """`save` stopped in its first image (its stdout a full pipe) while another process removes
    the second with `rmi -f`: the removal goes through (untagged, deleted), and the save still
    writes the whole archive, which loads back as the same images. dockerd 20.10 does the same
    (its exporter holds the layers it reads): `docker save big:victim` into a pipe read 64 KiB,
    then `docker rmi -f big:victim big:1` (Untagged, Deleted), then the rest read: exit 0, the
    whole 8 MB archive. dockyard's save failed with the next layer's "no such file or
    directory"; it now holds a lease (store.leases) on what it saves."""
    other = dockyard("import", "-", "other:1", input=make_tar([("hello.txt", b"hello\n")])).stdout.strip()
    expected = dockyard("save", "busybox", "other:1").stdout_bytes
    save = _spawn(dockyard, "save", "busybox", "other:1")
    assert save.stdout is not None and save.stderr is not None
    first = save.stdout.read(64 << 10)
    time.sleep(0.5)  # the save waits on its full pipe (nothing timed is asserted)
    removed = dockyard("rmi", "-f", "other:1")
    assert removed.stdout.splitlines()[:2] == ["Untagged: other:1", f"Deleted: {other}"]
    archive = first + save.stdout.read()
    assert save.wait(timeout=60) == 0, save.stderr.read()
    assert archive == expected
    assert dockyard("images", "--format", "{{.Repository}}").stdout == "busybox\n"
    assert dockyard("load", input=archive).stdout == "Loaded image: busybox:latest\nLoaded image: other:1\n"
    assert sorted(dockyard("images", "-q", "--no-trunc").stdout.split()) == sorted([busybox, other])
    assert_whole(dockyard.root)
