"""`dockyard serve` reaps every child it makes: each container's monitor is its child until the
container ends (issue 15 found one zombie left per API `docker run`)."""

from __future__ import annotations

import os
import time

from tests.api.conftest import Server
from tests.api.test_docker_cli import docker


def _children(pid: int) -> dict[int, str]:
    """The children of `pid` and their states (R, S, Z...)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out[int(entry)] = fields[0].decode()
    return out


def _zombies(pid: int) -> list[int]:
    return [child for child, state in _children(pid).items() if state == "Z"]


def test_serve_leaves_no_zombies_after_runs(server: Server, cli_env: dict[str, str],
                                           busybox: str) -> None:
    for _ in range(3):
        run = docker(cli_env, "run", "--rm", "busybox", "sh", "-c", "exit 3", check=False)
        assert run.returncode == 3
    cid = docker(cli_env, "run", "-d", "busybox", "true").stdout.decode().strip()
    assert docker(cli_env, "wait", cid).stdout.decode().strip() == "0"
    docker(cli_env, "restart", cid)
    assert docker(cli_env, "wait", cid).stdout.decode().strip() == "0"
    docker(cli_env, "rm", cid)
    docker(cli_env, "run", "-d", "--rm", "busybox", "true")
    # once every container has ended (the last one removes itself), no child is left unreaped
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if docker(cli_env, "ps", "-aq").stdout == b"" and not _zombies(server.proc.pid):
            break
        time.sleep(0.05)
    assert docker(cli_env, "ps", "-aq").stdout == b""
    assert _zombies(server.proc.pid) == []
