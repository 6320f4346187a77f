"""Runtime tests run real containers (runc over overlayfs). After the session nothing of theirs
may be left: no mounts under the test stores, no monitor processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

if shutil.which("runc") is None and shutil.which("crun") is None or os.geteuid() != 0:
    pytest.skip("needs root and runc or crun", allow_module_level=True)


def _mounts_under(base: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(base)]


def _monitors_under(base: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"dockyard.runtime.monitor" in cmd and any(a.startswith(base.encode()) for a in cmd):
            out.append(int(pid))
    return out


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(tmp_path_factory: pytest.TempPathFactory):
    base = str(tmp_path_factory.getbasetemp())
    yield
    assert _mounts_under(base) == [], "dockyard mounts left after the tests"
    assert _monitors_under(base) == [], "monitor processes left after the tests"


@pytest.fixture(autouse=True)
def remove_containers(dockyard):
    """Each test's containers are force-removed at its end (that must unmount everything). A
    store whose containers/ holds nothing has none: no CLI start to list them."""
    yield
    folder = dockyard.root / "containers"
    if not (folder.is_dir() and any(folder.iterdir())):
        return
    ids = dockyard("ps", "-aq", "--no-trunc", check=False).stdout.split()
    if ids:
        dockyard("rm", "-f", *ids)
