"""Namespaces shared between containers (`--network container:NAME`, compose's
`network_mode: service:NAME`, `--pid container:NAME`, `--ipc container:NAME` with `--ipc
shareable`): the same docker 20.10 CLI and docker-compose 1.29 commands against dockyard serve and
the reference dockerd, as dockerd 20.10 does them: what inspect, ps and port show, the conflicts
refused and their words, the target not running or gone, what the joiner sees when the target
stops, restarts, and (dockyard) that nothing is left on the host after both are removed, a
monitor killed -9 included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import Engine


def _out(engine: Engine, *args: str) -> str:
    return engine.docker(*args).stdout.decode()


def _inspect(engine: Engine, name: str) -> dict:
    return json.loads(engine.docker("inspect", name).stdout)[0]


def _started(engine: Engine, *args: str) -> str:
    return _out(engine, "run", "-d", *args).strip()


def _rm(engine: Engine, *names: str) -> None:
    engine.docker("rm", "-f", *names, check=False)


def test_network_of_another_container(engine: Engine) -> None:
    web = _started(engine, "--name", f"nmweb{engine.name}", "busybox", "sleep", "1234")
    side = ""
    try:
        side = _started(engine, "--network", f"container:nmweb{engine.name}", "busybox", "sleep", "1235")
        info, target = _inspect(engine, side), _inspect(engine, web)
        assert info["HostConfig"]["NetworkMode"] == f"container:{web}"
        settings = info["NetworkSettings"]
        assert (settings["Networks"], settings["IPAddress"], settings["Ports"], settings["SandboxKey"]) \
            == ({}, "", {}, "")
        # its hostname, /etc/hosts, /etc/hostname and /etc/resolv.conf are the target's
        assert info["Config"]["Hostname"] == target["Config"]["Hostname"] == web[:12]
        for key in ("HostsPath", "HostnamePath", "ResolvConfPath"):
            assert info[key] == target[key]
        files = "hostname; echo $HOSTNAME; cat /etc/hostname /etc/hosts /etc/resolv.conf; readlink /proc/self/ns/net"
        assert _out(engine, "exec", side, "sh", "-c", files) == _out(engine, "exec", web, "sh", "-c", files)
        assert f"{target['NetworkSettings']['IPAddress']}\t{web[:12]}" in _out(engine, "exec", side, "cat", "/etc/hosts")
        # the target's localhost: a server in one, a client in the other
        engine.docker("exec", "-d", web, "sh", "-c", "echo hello | nc -l -p 7000")
        assert _out(engine, "exec", side, "sh", "-c",
                    "for i in $(seq 50); do nc 127.0.0.1 7000 && break; sleep 0.1; done") == "hello\n"
        rows = _out(engine, "ps", "--no-trunc", "--format", "{{.ID}}|{{.Ports}}|{{.Networks}}").splitlines()
        assert f"{side}||" in rows
        assert _out(engine, "port", side) == ""
        # the target stops: the joiner runs on, in what is left of the namespace (its loopback)
        engine.docker("stop", "-t", "1", web)
        assert _inspect(engine, side)["State"]["Running"]
        links = _out(engine, "exec", side, "ip", "-o", "link").splitlines()
        assert [line.split()[1] for line in links] == ["lo:"]
        restart = engine.docker("restart", "-t", "1", side, check=False)
        assert restart.returncode == 1
        assert f"cannot join network of a non running container: {web}" in restart.stderr.decode()
        # a running target again: the joiner restarts into its new namespace
        engine.docker("start", web)
        engine.docker("restart", "-t", "1", side)
        ns = "readlink /proc/self/ns/net"
        assert _out(engine, "exec", side, "sh", "-c", ns) == _out(engine, "exec", web, "sh", "-c", ns)
        # removing the target is not refused; the joiner keeps running, then cannot start again
        engine.docker("rm", "-f", web)
        assert _inspect(engine, side)["State"]["Running"]
        assert web[:12] in _out(engine, "exec", side, "cat", "/etc/hostname")
        engine.docker("stop", "-t", "1", side)
        again = engine.docker("start", side, check=False)
        assert again.returncode == 1 and f"No such container: {web}" in again.stderr.decode()
    finally:
        _rm(engine, *[c for c in (side, web) if c])


CONFLICTS = [
    (("--hostname", "h"), "conflicting options: hostname and the network mode"),
    (("-p", "80:80"), "conflicting options: port publishing and the container type network mode"),
    (("-P",), "conflicting options: port publishing and the container type network mode"),
    (("--expose", "80"), "conflicting options: port exposing and the container type network mode"),
    (("--dns", "1.1.1.1"), "conflicting options: dns and the network mode"),
    (("--add-host", "a:1.2.3.4"), "conflicting options: custom host-to-IP mapping and the network mode"),
    (("--mac-address", "02:42:ac:11:00:09"), "conflicting options: mac-address and the network mode"),
]


def test_conflicts_and_targets_missing_or_not_running(engine: Engine) -> None:
    """What a container network refuses (dockerd's words); a network target may be missing at
    create (the start fails); pid and IPC targets must exist (a 400: the CLI does not try to
    pull the image); a target that is not running fails the start with dockerd's words;
    --dns-search and --domainname are taken."""
    for option, message in CONFLICTS:
        refused = engine.docker("create", "--network", "container:anything", *option, "busybox", "true",
                                check=False)
        assert refused.returncode == 1 and message in refused.stderr.decode(), (option, refused.stderr)
    made = []
    try:
        nosuch = _out(engine, "create", "--network", "container:nmnosuch", "busybox", "true").strip()
        made.append(nosuch)
        assert _inspect(engine, nosuch)["HostConfig"]["NetworkMode"] == "container:nmnosuch"
        assert (_inspect(engine, nosuch)["HostnamePath"], _inspect(engine, nosuch)["Config"]["Hostname"]) \
            == ("", nosuch[:12])
        started = engine.docker("start", nosuch, check=False)
        assert started.returncode == 1 and "No such container: nmnosuch" in started.stderr.decode()
        for mode in ("--pid", "--ipc"):
            bad = engine.docker("create", mode, "container:nmnosuch", "busybox", "true", check=False)
            assert bad.returncode == 1 and "No such container: nmnosuch" in bad.stderr.decode()
            assert "Unable to find image" not in bad.stderr.decode()
        stopped = _out(engine, "create", "busybox", "true").strip()
        made.append(stopped)
        cases = {"--network": f"cannot join network of a non running container: {stopped}",
                 "--pid": f"container {stopped} is not running"}
        for mode, message in cases.items():
            joiner = _out(engine, "create", mode, f"container:{stopped[:12]}", "busybox", "true").strip()
            made.append(joiner)
            assert _inspect(engine, joiner)["HostConfig"][{"--network": "NetworkMode", "--pid": "PidMode"}[mode]] \
                == f"container:{stopped}"
            failed = engine.docker("start", joiner, check=False)
            assert failed.returncode == 1 and message in failed.stderr.decode(), failed.stderr
        for option in (("--dns-search", "x.example"), ("--domainname", "d.example")):
            made.append(_out(engine, "create", "--network", f"container:{stopped}", *option,
                             "busybox", "true").strip())
    finally:
        _rm(engine, *made)


def test_pid_and_ipc_of_another_container(engine: Engine) -> None:
    """--pid container: sees the other's processes; --ipc container: needs the target
    shareable (20.10's default is private) and shares its IPC namespace and /dev/shm; the
    joiner of a pid namespace ends with the target."""
    private = _started(engine, "busybox", "sleep", "1236")
    donor = _started(engine, "--ipc", "shareable", "busybox", "sleep", "1237")
    made = [private, donor]
    try:
        assert _inspect(engine, private)["HostConfig"]["IpcMode"] == "private"
        assert _inspect(engine, donor)["HostConfig"]["IpcMode"] == "shareable"
        refused = engine.docker("run", "-d", "--ipc", f"container:{private}", "busybox", "true", check=False)
        assert refused.returncode == 125
        assert (f"can't join IPC of container {private}: non-shareable IPC (hint: use "
                "IpcMode:shareable for the donor container)") in refused.stderr.decode()
        made += [c for c in _out(engine, "ps", "-aq", "--no-trunc", "--filter", "status=created").split()]
        joiner = _started(engine, "--pid", f"container:{donor[:12]}", "--ipc", f"container:{donor[:12]}",
                          "busybox", "sleep", "1238")
        made.append(joiner)
        host = _inspect(engine, joiner)["HostConfig"]
        assert (host["PidMode"], host["IpcMode"]) == (f"container:{donor}", f"container:{donor}")
        ps = _out(engine, "exec", joiner, "ps", "-o", "pid,args")
        assert "1 sleep 1237" in " ".join(ps.split()) and "sleep 1238" in ps
        ipc = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid"
        assert _out(engine, "exec", joiner, "sh", "-c", ipc) == _out(engine, "exec", donor, "sh", "-c", ipc)
        engine.docker("exec", joiner, "sh", "-c", "echo shared > /dev/shm/nm")
        assert _out(engine, "exec", donor, "cat", "/dev/shm/nm") == "shared\n"
        # its /dev/shm is the donor's size, not a tmpfs of its own
        assert _out(engine, "exec", joiner, "df", "-k", "/dev/shm").split()[-5] == "65536"
        # a joiner's init that ends takes what it started with it (else they would keep its
        # output open and its stop would hang), as dockerd's shim kills them all
        parent = _started(engine, "--pid", f"container:{donor}", "busybox", "sh", "-c",
                          "sleep 1243 & exec sleep 1244")
        made.append(parent)
        assert "sleep 1243" in _out(engine, "exec", donor, "ps", "-o", "args")
        engine.docker("stop", "-t", "1", parent)
        assert _inspect(engine, parent)["State"]["ExitCode"] == 143
        assert "sleep 1243" not in _out(engine, "exec", donor, "ps", "-o", "args")
        # the donor's init ends its pid namespace: the joiner is killed with it
        engine.docker("stop", "-t", "1", donor)
        assert _out(engine, "wait", joiner).strip() == "137"
    finally:
        _rm(engine, *made)


def test_host_pid_container_stops_with_its_init(engine: Engine) -> None:
    """--pid host: what the init started ends with it too (it hung the stop, and rm -f)."""
    cid = _started(engine, "--pid", "host", "busybox", "sh", "-c", "sleep 1245 & exec sleep 1246")
    try:
        engine.docker("stop", "-t", "1", cid)
        assert _inspect(engine, cid)["State"]["ExitCode"] == 143
        assert b"sleep 1245" not in subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout
    finally:
        _rm(engine, cid)


def test_compose_network_mode_service(engine: Engine, tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("needs docker-compose")
    from tests.interop.test_compose import compose

    (tmp_path / "docker-compose.yml").write_text(
        "version: '2.4'\nservices:\n"
        "  web:\n    image: busybox\n    command: sleep 1239\n    ipc: shareable\n"
        "  side:\n    image: busybox\n    command: sleep 1240\n"
        "    network_mode: service:web\n    pid: service:web\n    ipc: service:web\n")
    project = f"nm{engine.name}"
    try:
        compose(engine, project, tmp_path, "up", "-d")
        web = _out(engine, "ps", "-q", "--no-trunc", "--filter", f"name={project}_web_1").strip()
        side = _inspect(engine, f"{project}_side_1")
        assert side["HostConfig"]["NetworkMode"] == f"container:{web}"
        assert side["HostConfig"]["PidMode"] == side["HostConfig"]["IpcMode"] == f"container:{web}"
        ns = "readlink /proc/self/ns/net; readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc"
        assert _out(engine, "exec", side["Id"], "sh", "-c", ns) == _out(engine, "exec", web, "sh", "-c", ns)
    finally:
        compose(engine, project, tmp_path, "down", "-t", "1", check=False)


def test_nothing_left_after_removal(engine: Engine) -> None:
    """dockyard only (the host's view of its store): a target, a joiner of its network, pid and
    IPC, both monitors killed -9, then both removed: no mount, no namespace file, no runtime
    state, no address left; and the same with monitors alive."""
    if engine.name != "dockyard":
        pytest.skip("the host's view of dockyard's store")
    store_root = engine.root
    for kill_monitors in (False, True):
        target = _started(engine, "--ipc", "shareable", "busybox", "sleep", "1241")
        joiner = _started(engine, "--network", f"container:{target}", "--pid", f"container:{target}",
                          "--ipc", f"container:{target}", "busybox", "sleep", "1242")
        if kill_monitors:
            for cid in (joiner, target):
                state = json.loads((store_root / "containers" / cid / "state.json").read_text())
                os.kill(state["monitor_pid"], signal.SIGKILL)
        engine.docker("rm", "-f", joiner, target)
        with open("/proc/self/mountinfo") as f:
            left = [line.split()[4] for line in f if str(store_root) in line.split()[4]]
        assert left == []
        assert list((store_root / "containers").iterdir()) == []
        assert not any(p.name in (target, joiner) for p in (store_root / "runc").iterdir()) \
            if (store_root / "runc").exists() else True
        ips = [p for p in (store_root / "networks").glob("*/ips/*")]
        assert ips == []
        sleeping = subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout
        assert b"sleep 1241" not in sleeping and b"sleep 1242" not in sleeping
