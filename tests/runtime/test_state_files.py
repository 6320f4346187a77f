"""Container state files: atomic always, durable (fsync) only where a host crash would lie."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.runtime.state import EXITED, ContainerDir, ContainerState, write_file


def test_non_durable_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    target = tmp_path / "c" / "hosts"
    target.write_bytes(b"old")
    write_file(target, b"new\n", durable=False)
    assert target.read_bytes() == b"new\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in target.parent.iterdir()) == ["hosts"]


def test_torn_state_reads_as_exited_not_a_traceback(tmp_path: Path) -> None:
    cdir = ContainerDir(tmp_path / "c")
    cdir.path.mkdir()
    (cdir.path / "state.json").write_bytes(b"")  # what a crash can leave of an unsynced write
    state = cdir.read_state()
    assert (state.status, state.exit_code) == (EXITED, 255)
    cdir.write_state(ContainerState(), durable=False)
    assert cdir.read_state() == ContainerState()


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_run_rm_fsyncs_only_the_container_record_and_hold(store_root: Path, busybox: str,
                                                          tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    env = {**os.environ, "DOCKYARD_ROOT": str(store_root)}
    # the first run unpacks the image's layers (durably, once); trace the second
    subprocess.run([sys.executable, "-m", "dockyard", "run", "--rm", "busybox", "true"],
                   env=env, check=True)
    subprocess.run(["strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o", str(trace),
                    sys.executable, "-m", "dockyard", "run", "--rm", "busybox", "true"],
                   env=env, check=True)
    calls = [l for l in trace.read_text().splitlines() if "fsync(" in l or "fdatasync(" in l]
    # the default bridge's record is written again (durably) when its subnet moved: another
    # store took the one it gave up after the first run (other tests, other worktrees' suites);
    # that is the network's durability, not the run's (seen failing 5 != 4 under load)
    calls = [l for l in calls if f"{store_root}/networks/" not in l]
    # hold file + its directory, record + its directory (was 18 with every state write synced)
    assert len(calls) == 4, calls
