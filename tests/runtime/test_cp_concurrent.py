"""Two copies into one stopped container at once, by two processes: its rootfs is mounted by
the first that needs it and unmounted by the last (bundle.mounted). It was unmounted by
whichever had mounted it, when it ended: the other, which had found it mounted, then copied
into an empty folder ("Could not find the file /tmp in container").

The order is made, not hoped for: `docker cp -` (the CLI, a real process) mounts the rootfs and
waits in its extraction for the tar we hold back; a second process enters the same mounted
rootfs (engine/container_files' way: bundle.mounted, then rootfs_archive.put_archive) and waits
for a line; the first copy gets its tar and ends; then the second copies."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tests.conftest import REPO, mount_points_under

SECOND = r"""
import sys
from pathlib import Path
from dockyard.runtime import bundle, rootfs_archive
from dockyard.runtime.containers import lookup
from dockyard.store.store import Store
store = Store(Path(sys.argv[1]))
cdir = lookup(store, sys.argv[2])
with bundle.mounted(store, cdir, volumes=True) as rootfs:
    print("in", flush=True)
    sys.stdin.readline()
    with open(sys.argv[3], "rb") as source:
        rootfs_archive.put_archive(rootfs, "/tmp", source)
print("copied", flush=True)
"""


def _tar(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _children(pid: int) -> list[str]:
    """The command lines of `pid`'s children."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            kids = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            try:
                out.append(Path(f"/proc/{kid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
    return out


def test_a_cp_ending_leaves_the_rootfs_to_another_cp(dockyard, busybox, tmp_path: Path) -> None:
    cid = dockyard("create", "busybox", "true").stdout.strip()
    merged = str(dockyard.root / "containers" / cid / "merged")
    big = os.urandom(3 << 20)
    first = subprocess.Popen([sys.executable, "-m", "dockyard", "cp", "-", f"{cid}:/tmp"],
                             env=dockyard.env, cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = None
    try:
        deadline = time.monotonic() + 60   # a hang guard, not a speed check
        while not any("rootfs_archive put" in c for c in _children(first.pid)):
            assert time.monotonic() < deadline and first.poll() is None, first.stderr.read()
            time.sleep(0.01)
        assert mount_points_under(merged) == [merged]   # the first copy's mount
        (tmp_path / "b.tar").write_bytes(_tar("b", b"second\n"))
        second = subprocess.Popen([sys.executable, "-c", SECOND, str(dockyard.root), cid,
                                   str(tmp_path / "b.tar")], cwd=REPO, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert second.stdout.readline() == "in\n"
        out, err = first.communicate(_tar("a", big), timeout=120)
        assert first.returncode == 0, err
        second.stdin.write("go\n")
        second.stdin.flush()
        assert second.stdout.readline() == "copied\n"
        assert second.wait(60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert mount_points_under(merged) == []     # the last one unmounted it
    # both landed whole, in the container's layer
    dockyard("cp", f"{cid}:/tmp/b", str(tmp_path / "b"))
    dockyard("cp", f"{cid}:/tmp/a", str(tmp_path / "a"))
    assert (tmp_path / "b").read_bytes() == b"second\n"
    assert (tmp_path / "a").read_bytes() == big
    assert mount_points_under(merged) == []



def test_a_copy_from_a_container_that_exits_meanwhile(dockyard, busybox) -> None:
    """`docker cp` from a running container reads its root as the container sees it
    (/proc/PID/root, volumes included), and each of the copy's steps (the stat, the tar) ran in
    a child that entered that path anew. A container that exited between them (here: between
    the stat and the tar, as the copy's stream starts) left the path naming nothing, and the
    copy failed with 'No such file or directory: /bin/busybox' for a file that is there (a pid
    used again would have named another process's root). dockerd holds the container's lock
    for the copy (containerArchivePath), its exit recorded after: the copy is whole. Now the
    root is held open for the copy: the whole file comes, as a copy after the exit has it."""
    from dockyard.engine import container_files
    from dockyard.runtime.containers import lookup
    from dockyard.runtime.state import pid_alive

    cid = dockyard("run", "-d", "busybox", "sleep", "600").stdout.strip()
    store = dockyard.store
    cdir = lookup(store, cid)
    pid = cdir.read_state().pid

    def exited(stat: dict) -> io.BytesIO:   # between the stat and the tar: the container ends
        os.kill(pid, 9)
        deadline = time.monotonic() + 60   # a hang guard, not a speed check
        while pid_alive(pid) or cdir.read_state().status == "running":
            assert time.monotonic() < deadline, "the container does not end"
            time.sleep(0.01)
        return during

    during, after = io.BytesIO(), io.BytesIO()
    container_files.get(store, cid, "/bin/busybox", exited)
    container_files.get(store, cid, "/bin/busybox", lambda stat: after)
    files = []
    for got in (during, after):
        with tarfile.open(fileobj=io.BytesIO(got.getvalue())) as tar:
            member = tar.extractfile("busybox")
            assert member is not None
            files.append(member.read())
    assert len(files[0]) > 100_000 and files[0] == files[1]
