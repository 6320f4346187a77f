"""`docker network`, `docker volume` and `docker events` (Debian's docker CLI) against dockyard serve."""

from __future__ import annotations

import json
import subprocess
import time

DOCKER = "/usr/bin/docker"   # Debian's 20.10 client (API 1.41); /usr/local/bin has a 28.x one


def docker(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([DOCKER, *args], env=env, capture_output=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode()}{proc.stdout.decode()}")
    return proc


def test_network_commands(cli_env: dict[str, str]) -> None:
    ls = docker(cli_env, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout.decode()
    assert sorted(ls.split("\n")[:-1]) == ["bridge bridge local", "host host local", "none null local"]
    net_id = docker(cli_env, "network", "create", "--label", "team=a", "appnet").stdout.decode().strip()
    assert len(net_id) == 64
    info = json.loads(docker(cli_env, "network", "inspect", "appnet").stdout)[0]
    assert info["Id"] == net_id and info["Driver"] == "bridge" and info["Labels"] == {"team": "a"}
    subnet = info["IPAM"]["Config"][0]["Subnet"]
    assert info["IPAM"]["Config"][0]["Gateway"] == subnet.rsplit(".", 1)[0] + ".1"
    dup = docker(cli_env, "network", "create", "appnet", check=False)
    assert dup.returncode == 1 and "network with name appnet already exists" in dup.stderr.decode()
    assert docker(cli_env, "network", "ls", "-q", "--filter", "label=team=a").stdout.decode().strip() == net_id[:12]
    assert docker(cli_env, "network", "ls", "-q", "--filter", "name=nothing-like-it").stdout == b""
    bad = docker(cli_env, "network", "ls", "--filter", "colour=red", check=False)
    assert bad.returncode == 1 and "Invalid filter 'colour'" in bad.stderr.decode()
    builtin = docker(cli_env, "network", "rm", "bridge", check=False)
    assert "bridge is a pre-defined network and cannot be removed" in builtin.stderr.decode()
    docker(cli_env, "network", "create", "other")
    pruned = docker(cli_env, "network", "prune", "-f").stdout.decode().split()
    assert pruned[:2] == ["Deleted", "Networks:"] and sorted(pruned[2:]) == ["appnet", "other"]
    missing = docker(cli_env, "network", "inspect", "appnet", check=False)
    assert missing.returncode == 1 and "No such network: appnet" in missing.stderr.decode()


def test_volume_commands(cli_env: dict[str, str]) -> None:
    assert docker(cli_env, "volume", "create", "--label", "x=1", "data").stdout == b"data\n"
    info = json.loads(docker(cli_env, "volume", "inspect", "data").stdout)[0]
    assert info["Name"] == "data" and info["Driver"] == "local" and info["Labels"] == {"x": "1"}
    assert info["Mountpoint"].endswith("/volumes/data/_data") and info["Scope"] == "local"
    anon = docker(cli_env, "volume", "create").stdout.decode().strip()
    names = docker(cli_env, "volume", "ls", "-q").stdout.decode().split()
    assert sorted(names) == sorted(["data", anon])
    assert docker(cli_env, "volume", "ls", "-q", "--filter", "label=x=1").stdout == b"data\n"
    bad = docker(cli_env, "volume", "create", "--opt", "type=tmpfs", "t1", check=False)
    assert bad.returncode == 1 and 'create t1: missing required option: "device"' in bad.stderr.decode()
    # Debian's CLI speaks API 1.41: prune removes every unused volume, named ones too
    pruned = docker(cli_env, "volume", "prune", "-f").stdout.decode()
    assert "data" in pruned and anon in pruned
    assert docker(cli_env, "volume", "ls", "-q").stdout == b""
    gone = docker(cli_env, "volume", "rm", "data", check=False)
    assert gone.returncode == 1 and "No such volume: data" in gone.stderr.decode()


def test_events_of_the_store(cli_env: dict[str, str], dockyard) -> None:
    since = f"{time.time():.3f}"
    docker(cli_env, "network", "create", "evnet")
    dockyard("images")                                 # a command of another process...
    docker(cli_env, "volume", "create", "evvol")
    docker(cli_env, "network", "rm", "evnet")
    until = f"{time.time() + 0.01:.3f}"
    out = docker(cli_env, "events", "--since", since, "--until", until, "--format",
                 "{{.Type}} {{.Action}}").stdout.decode().splitlines()
    assert out == ["network create", "volume create", "network destroy"]
    only = docker(cli_env, "events", "--since", since, "--until", until, "--filter", "type=volume",
                  "--format", "{{.Actor.ID}}").stdout.decode().splitlines()
    assert only == ["evvol"]
    bad = docker(cli_env, "events", "--since", since, "--until", until, "--filter", "mood=good",
                 check=False)
    assert bad.returncode != 0 and "Invalid filter 'mood'" in bad.stderr.decode()


def test_dockyard_cli_in_process_and_as_client_print_the_same(server, dockyard) -> None:
    """`dockyard network/volume ...` in process and as a client of dockyard serve (same store)."""
    client = {"DOCKYARD_HOST": server.url}
    # a subnet outside the default pool: tests/runtime/test_networks takes 10.213.250.0/24
    dockyard("network", "create", "--label", "a=b", "--subnet", "172.29.250.0/24", "same")
    dockyard("volume", "create", "--label", "k=v", "vol1")
    for args in (["network", "ls"], ["network", "ls", "-q", "--filter", "label=a=b"],
                 ["network", "inspect", "same"], ["volume", "ls"], ["volume", "inspect", "vol1"],
                 ["network", "inspect", "-f", "{{.IPAM.Config}}", "same"]):
        local = dockyard(*args).stdout
        remote = dockyard.run(*args, env=client).stdout
        assert local == remote, args
    bad = dockyard.run("network", "ls", "--filter", "x=y", env=client, check=False)
    assert bad.returncode == 1 and bad.stderr == "Error: Invalid filter 'x'\n"
    assert dockyard.run("network", "rm", "same", env=client).stdout == "same\n"
    assert "same" not in dockyard("network", "ls").stdout


def test_global_host_flag_is_where_serve_listens(dockyard, tmp_path) -> None:
    """`dockyard -H unix:///PATH serve` listens at PATH (it used to ignore -H)."""
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    sock = tmp_path / "g.sock"
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "--root", str(dockyard.root), "-H",
                             f"unix://{sock}", "serve"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert sock.exists()
        assert docker({"DOCKER_HOST": f"unix://{sock}", "PATH": "/usr/bin:/bin"},
                      "version", "--format", "{{.Server.Version}}").stdout.strip()
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_holds_the_default_bridge_while_it_runs(store_root, busybox, tmp_path) -> None:  # noqa: ANN001
    """As dockerd keeps docker0: serve's default bridge, made by its first container, stays up
    (an anchor port, its rules, its subnet) while serve runs, so a `docker run --rm` neither
    makes nor removes it. Stopped, serve lets it go; killed -9, its watcher does."""
    import signal
    import tempfile
    from pathlib import Path

    from dockyard.runtime.network.records import Networks
    from tests.api.conftest import start_server
    from tests.runtime.test_networks import subnet_rules

    def left() -> list[str]:
        names = [record.interface, "dz-" + record.interface[3:]]
        return [n for n in names if Path(f"/sys/class/net/{n}").exists()] + \
            subnet_rules(record.subnet, record.id, ("nat", "filter", "mangle", "raw"))

    for stop in ("SIGTERM", "SIGKILL"):
        sock_dir = Path(tempfile.mkdtemp(prefix="dy-hold-", dir="/tmp"))
        server = start_server(store_root, sock_dir)
        try:
            env = {"DOCKER_HOST": server.url, "PATH": "/usr/bin:/bin"}
            docker(env, "run", "--rm", "busybox", "true")
            record = Networks(store_root).get("bridge")
            assert len(left()) > 2   # bridge, anchor, rules: kept after the container went
            server.proc.send_signal(getattr(signal, stop))
            server.proc.wait(30)
            deadline = time.monotonic() + 60   # SIGKILL: the watcher's Python settles it
            while left() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert left() == []
        finally:
            server.stop()
            subprocess.run(["rm", "-rf", str(sock_dir)])
