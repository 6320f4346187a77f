"""Issue 16.12: what killed operations leave (a half-read archive in tmp/, ~300 MB each, kept a
day; unpack work trees `.diff-*` kept for ever) is removed at the next start when no live process
owns it (each process works in its own temp folder, owned by a lock: store/workspace.py), and
`dockyard system prune` (Docker's command) removes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dockyard.store.check import check_store
from dockyard.store.store import Store
from tests.conftest import REPO, Dockyard


def _tmp_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root / "tmp"):
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total


def _load(dockyard: Dockyard) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dockyard", "load"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dockyard.env, cwd=REPO)


def test_a_killed_load_leaves_nothing_after_the_next_start(dockyard: Dockyard, busybox: str) -> None:
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    load = _load(dockyard)
    load.stdin.write(archive[: len(archive) * 3 // 4])  # type: ignore[union-attr]
    load.stdin.flush()  # type: ignore[union-attr]
    for _ in range(200):
        if _tmp_bytes(dockyard.root) > 0:
            break
        time.sleep(0.05)
    load.send_signal(signal.SIGKILL)
    load.wait()
    assert _tmp_bytes(dockyard.root) > 0  # what the kill left
    dockyard("images")  # the next start
    assert os.listdir(dockyard.root / "tmp") == []
    assert check_store(Store(dockyard.root)).leftovers == []


def test_a_live_process_keeps_its_temp_folder(dockyard: Dockyard, busybox: str) -> None:
    archive = dockyard("save", "busybox").stdout_bytes
    load = _load(dockyard)
    load.stdin.write(archive[: len(archive) // 2])  # type: ignore[union-attr]
    load.stdin.flush()  # type: ignore[union-attr]
    for _ in range(200):
        if _tmp_bytes(dockyard.root) > 0:
            break
        time.sleep(0.05)
    spooled = _tmp_bytes(dockyard.root)
    dockyard("images")  # another start while the load runs: its folder is not touched
    assert _tmp_bytes(dockyard.root) >= spooled > 0
    load.stdin.write(archive[len(archive) // 2:])  # type: ignore[union-attr]
    load.stdin.close()  # type: ignore[union-attr]
    assert load.wait(timeout=60) == 0
    assert os.listdir(dockyard.root / "tmp") == []  # a process that ends removes its folder


def test_system_prune(dockyard: Dockyard, busybox: str, busybox_tar: Path) -> None:
    dangling = dockyard("import", "-c", "LABEL x=1", str(busybox_tar)).stdout.strip()
    stopped = dockyard("create", "busybox", "true").stdout.strip()
    # What older versions left beside the store's files, a minute old or more.
    store = Store(dockyard.root)
    layer_dir = store.layers.dir(store.image_ids()[0] and store.layers.all()[0])
    old = time.time() - 3600
    leftovers = [layer_dir / ".diff-abc123", dockyard.root / ".repositories.json.ab12cd34",
                 dockyard.root / "images" / f".{busybox[7:]}.json.x1y2z3w4"]
    (leftovers[0] / "etc").mkdir(parents=True)
    for path in leftovers[1:]:
        path.write_bytes(b"{")
    for path in leftovers:
        os.utime(path, (old, old))
    assert len(check_store(store).leftovers) == 3
    r = dockyard("system", "prune", input=b"n\n")
    assert r.stdout == ("WARNING! This will remove:\n  - all stopped containers\n"
                        "  - all networks not used by at least one container\n  - all dangling images\n"
                        "  - all dangling build cache\n\nAre you sure you want to continue? [y/N] ")
    assert all(p.exists() for p in leftovers)
    out = dockyard("system", "prune", "-f").stdout
    assert out.startswith(f"Deleted Containers:\n{stopped}\n\nDeleted Images:\ndeleted: {dangling}\n")
    assert out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert not any(p.exists() for p in leftovers)
    report = check_store(store)
    assert report.problems == [] and report.leftovers == []
    assert dockyard("images", "-q", "--no-trunc").stdout.split() == [busybox]
    assert dockyard("system", "prune", "-f").stdout == "Total reclaimed space: 0B\n"
    # -a: every image no container uses goes too (the docker CLI's `dangling=false`)
    out = dockyard("system", "prune", "-a", "-f").stdout
    assert out.startswith("Deleted Images:\nuntagged: busybox:latest\n")
    assert dockyard("images", "-q").stdout == ""
