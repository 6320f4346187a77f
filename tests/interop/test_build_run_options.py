"""`docker build --memory/--memory-swap/--shm-size/--ulimit/--add-host/--cpu-*/--cpuset-*` (compose's build `shm_size`,
`extra_hosts`): dockerd's classic builder gives them to its RUN containers; dockyard accepted
the parameters and ignored them. Through Debian's docker CLI 20.10 (DOCKER_BUILDKIT=0), on
dockyard serve and the reference dockerd: what a RUN step sees inside is the same."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.interop.conftest import Engine

SEES = ("RUN grep 1.2.3.4 /etc/hosts; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
        "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting; "
        "df -k /dev/shm | tail -1; ulimit -n; ulimit -Hn; "
        "cd /sys/fs/cgroup; cat cpu/cpu.shares cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus "
        "cpuset/cpuset.mems\n")


def test_run_steps_get_the_build_options(engine: Engine) -> None:
    with tempfile.TemporaryDirectory(prefix="build-opts-", dir="/tmp") as tmp:
        (Path(tmp) / "Dockerfile").write_text("FROM busybox\n" + SEES)
        proc = engine.docker("build", "--no-cache", "--add-host", "a:1.2.3.4", "-m", "10m",
                             "--memory-swap", "20m", "--shm-size", "8m", "--ulimit", "nofile=100:200",
                             "-c", "512", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0",
                             "--cpuset-mems", "0", tmp)
        out = proc.stdout.decode().splitlines()
        start = next(i for i, line in enumerate(out) if "Running in" in line) + 1
        seen = out[start:start + 11]
        assert seen[0] == "1.2.3.4\ta" and seen[1] == "10485760", seen
        assert seen[2] in ("20971520", "no-swap-accounting"), seen
        assert seen[3].split()[:2] == ["shm", "8192"] and seen[4:6] == ["100", "200"], seen
        assert seen[6:] == ["512", "50000", "25000", "0", "0"], seen
        r = engine.docker("build", "--isolation", "hyperv", tmp, check=False)
        assert r.returncode != 0 and b'Unsupported isolation: "hyperv"' in r.stderr, r.stderr
        r = engine.docker("build", "--security-opt", "seccomp=unconfined", tmp, check=False)
        assert r.returncode != 0 and b"Error response from daemon: The daemon on this platform does not support " \
            b"setting security options on build" in r.stderr, r.stderr
        if engine.name == "dockyard":
            # not applied by dockyard, so refused rather than ignored (dockerd applies it)
            r = engine.docker("build", "--cgroup-parent", "x", tmp, check=False)
            assert r.returncode != 0 and b"is not supported by dockyard" in r.stderr, r.stderr
