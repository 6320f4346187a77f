"""`docker run` options (Debian's 20.10 CLI) honoured as dockerd honours them, or refused: the
same commands against dockyard serve and the reference dockerd."""

from __future__ import annotations

import json

import pytest

from tests.interop.conftest import Engine


def _run(engine: Engine, *args: str, check: bool = True) -> str:
    return engine.docker("run", "--rm", *args, check=check).stdout.decode()


def test_options_seen_inside(engine: Engine) -> None:
    assert _run(engine, "--hostname", "box1", "busybox", "hostname") == "box1\n"
    ro = engine.docker("run", "--rm", "--read-only", "busybox", "touch", "/x", check=False)
    assert ro.returncode == 1 and b"Read-only file system" in ro.stderr
    assert _run(engine, "--read-only", "--tmpfs", "/scratch", "busybox",
                "sh", "-c", "touch /scratch/x && echo ok") == "ok\n"
    status = _run(engine, "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "busybox",
                  "grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status")
    assert status.split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
    assert _run(engine, "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n") == "100\n"
    hosts = _run(engine, "--add-host", "db.example:10.9.8.7", "busybox", "cat", "/etc/hosts")
    assert "10.9.8.7\tdb.example" in hosts
    resolv = _run(engine, "--dns", "10.1.2.3", "--dns-search", "corp.example", "busybox",
                  "cat", "/etc/resolv.conf")
    assert "nameserver 10.1.2.3" in resolv and "search corp.example" in resolv
    assert _run(engine, "-e", "A=1", "busybox", "sh", "-c", "echo $A") == "1\n"


def test_limits_and_labels_in_inspect(engine: Engine) -> None:
    cid = engine.docker("run", "-d", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50",
                        "-l", "team=blue", "busybox", "sleep", "30").stdout.decode().strip()
    try:
        info = json.loads(engine.docker("inspect", cid).stdout)[0]
        host = info["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 500_000_000, 50)
        assert info["Config"]["Labels"] == {"team": "blue"}
        assert engine.docker("ps", "-q", "--no-trunc", "--filter", "label=team=blue").stdout.decode().strip() == cid
        pids_max = engine.docker("exec", cid, "cat", "/sys/fs/cgroup/pids/pids.max", check=False).stdout
        assert pids_max in (b"50\n", b"")     # v1 without a cgroup namespace shows the host's root
    finally:
        engine.docker("rm", "-f", cid)


def test_named_volume_copy_up_and_volumes_from(engine: Engine) -> None:
    vol = f"cu-{engine.name}"
    try:
        # busybox has files in /etc: an empty new volume mounted there gets them (copy-up)
        assert "passwd" in _run(engine, "-v", f"{vol}:/etc", "busybox", "ls", "/etc")
        _run(engine, "-v", f"{vol}:/etc", "busybox", "sh", "-c", "echo kept > /etc/marker")
        assert _run(engine, "--mount", f"type=volume,source={vol},target=/data", "busybox",
                    "cat", "/data/marker") == "kept\n"
        holder = engine.docker("create", "-v", f"{vol}:/shared", "busybox", "true").stdout.decode().strip()
        assert _run(engine, "--volumes-from", f"{holder}:ro", "busybox", "cat", "/shared/marker") == "kept\n"
        ro = engine.docker("run", "--rm", "--volumes-from", f"{holder}:ro", "busybox", "touch",
                           "/shared/x", check=False)
        assert ro.returncode == 1 and b"Read-only file system" in ro.stderr
        busy = engine.docker("volume", "rm", vol, check=False)
        assert busy.returncode == 1 and b"volume is in use" in busy.stderr
        engine.docker("rm", holder)
    finally:
        engine.docker("volume", "rm", "-f", vol, check=False)


@pytest.mark.parametrize("flag", [["--privileged"], ["--restart", "always"], ["--init"]])
def test_unsupported_options_are_refused(engine: Engine, flag: list[str]) -> None:
    if engine.name == "dockerd":
        pytest.skip("dockerd supports these")
    refused = engine.docker("create", *flag, "busybox", "true", check=False)
    assert refused.returncode == 1 and b"not supported by dockyard" in refused.stderr
    assert engine.docker("ps", "-aq").stdout == b""      # nothing was created
