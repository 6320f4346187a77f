"""netavark, driven: its JSON in, its status out; and the network namespace file it configures.

A container's network namespace is made before the container (`unshare --net=FILE`: a new
namespace kept alive by a bind mount on FILE), configured by `netavark setup FILE` and given to
the runtime in the OCI spec; `netavark teardown FILE` undoes it (veth, rules, DNS entries; the
bridge when its last container leaves), then the file is unmounted.

netavark takes the container's addresses from us (`static_ips`: see ipam.py) and writes
aardvark-dns's entries into `<config>/aardvark-dns/`, one file per network, starting aardvark-dns
for the first. `config` is per store (`<root>/netavark`), so each store has its own aardvark-dns.
Calls are serialized host-wide (`/run/dockyard/netavark.lock`): netavark's global iptables chains
are shared by every store on the host.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import RuntimeFailure, Unavailable
from dockyard.runtime.network.records import NetworkRecord
from dockyard.runtime.network.subnets import RUN_DIR
from dockyard.store.locks import flock

MS_BIND = 0x1000
MNT_DETACH = 2
_SEARCH = ("/usr/lib/podman", "/usr/libexec/podman", "/usr/local/libexec/podman",
           "/usr/local/lib/podman")


def _binary(name: str) -> str:
    env = os.environ.get(f"DOCKYARD_{name.upper().replace('-', '_')}")
    if env:
        return env
    for d in _SEARCH:
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found:
        return found
    raise Unavailable(f"{name} is not installed (Debian package {name}): bridge networks need it")


@dataclass
class Attachment:
    """One network of a container, as netavark is told about it."""

    network: NetworkRecord
    interface: str                      # eth0, eth1...
    ip: str                             # the address ipam gave
    aliases: list[str] = field(default_factory=list)
    mac: str = ""


@dataclass
class PortMapping:
    container_port: int
    protocol: str                       # tcp | udp | sctp
    host_ip: str                        # "" = every address
    host_port: int
    range: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"container_port": self.container_port, "host_ip": self.host_ip,
                "host_port": self.host_port, "protocol": self.protocol, "range": self.range}


def options_json(container_id: str, container_name: str, attachments: list[Attachment],
                 ports: list[PortMapping], dns_servers: list[str] | None = None) -> bytes:
    networks: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for a in attachments:
        n = a.network
        per: dict[str, Any] = {"interface_name": a.interface, "static_ips": [a.ip]}
        if a.aliases:
            per["aliases"] = list(a.aliases)
        if a.mac:
            per["static_mac"] = a.mac
        networks[n.name] = per
        options: dict[str, str] = {}
        if n.mtu:
            options["mtu"] = str(n.mtu)
        info[n.name] = {
            "name": n.name, "id": n.id, "driver": "bridge", "network_interface": n.interface,
            "subnets": [{"subnet": n.subnet, "gateway": n.gateway}],
            "ipv6_enabled": False, "internal": n.internal, "dns_enabled": n.dns_enabled,
            "options": options or None,
        }
    body: dict[str, Any] = {"container_id": container_id, "container_name": container_name,
                            "networks": networks, "network_info": info,
                            "port_mappings": [p.to_json() for p in ports] or None}
    if dns_servers:
        body["dns_servers"] = dns_servers
    return json.dumps(body).encode()


def _run(config_dir: Path, command: str, netns: Path, payload: bytes) -> bytes:
    config_dir.mkdir(parents=True, exist_ok=True)
    args = [_binary("netavark"), "--config", str(config_dir), "--rootless", "false",
            "--aardvark-binary", _binary("aardvark-dns"), command, str(netns)]
    # aardvark-dns, started by netavark, outlives it: it must not hold our pipes open, so
    # netavark's output goes to files, not pipes.
    out_path = config_dir / f".{command}.{os.getpid()}.out"
    stdin = _stdin(config_dir, payload)
    try:
        with flock(RUN_DIR / "netavark.lock"), open(out_path, "w+b") as out:
            os.unlink(out_path)
            proc = subprocess.run(args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                  close_fds=True, env={**os.environ, "NETAVARK_FW": "iptables"})
            out.seek(0)
            data = out.read()
    finally:
        os.close(stdin)
    if proc.returncode != 0:
        raise RuntimeFailure(f"netavark {command} failed: {_error(data)}")
    return data


def _stdin(config_dir: Path, payload: bytes) -> int:
    """The JSON as a file descriptor of an unlinked file (not a pipe: see _run)."""
    path = config_dir / f".in.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.unlink(path)
    os.write(fd, payload)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _error(data: bytes) -> str:
    """netavark prints {"error": "..."} (JSON) on failure."""
    text = data.decode(errors="replace").strip()
    for line in reversed(text.splitlines()):
        try:
            return str(json.loads(line)["error"])
        except (ValueError, KeyError, TypeError):
            continue
    return text.splitlines()[-1] if text else "unknown error"


def setup(config_dir: Path, netns: Path, payload: bytes) -> dict[str, Any]:
    """Configure `netns`; the status: network name -> {interfaces, dns_server_ips...}."""
    data = _run(config_dir, "setup", netns, payload)
    for line in reversed(data.decode(errors="replace").strip().splitlines()):
        try:
            status = json.loads(line)
        except ValueError:
            continue
        if isinstance(status, dict):
            return status
    raise RuntimeFailure(f"netavark setup printed no status: {data[:200]!r}")


def teardown(config_dir: Path, netns: Path, payload: bytes) -> None:
    _run(config_dir, "teardown", netns, payload)


def rename_dns(config_dir: Path, container_id: str, old_name: str, new_name: str) -> None:
    """aardvark-dns answers `new_name` for the container, no longer `old_name` (docker rename of
    a running container): its entry in each network's file (netavark's `ID IPv4 IPv6
    NAME,ALIAS...` lines, after the gateway line) gets the new name, and aardvark-dns rereads
    its files on SIGHUP, as after a netavark setup."""
    directory = config_dir / "aardvark-dns"
    with flock(RUN_DIR / "netavark.lock"):
        changed = False
        try:
            files = [f for f in directory.iterdir() if f.name != "aardvark.pid" and not f.name.startswith(".")]
        except FileNotFoundError:
            return
        for path in files:
            lines = path.read_text().split("\n")
            for i, line in enumerate(lines):
                fields = line.split(" ")
                if len(fields) >= 4 and fields[0] == container_id:
                    names = [new_name if n == old_name else n for n in fields[3].split(",")]
                    lines[i] = " ".join([*fields[:3], ",".join(names), *fields[4:]])
            text = "\n".join(lines)
            if text != path.read_text():
                tmp = path.with_name(f".{path.name}.{os.getpid()}")
                tmp.write_text(text)
                os.replace(tmp, path)
                changed = True
        if changed:
            try:
                os.kill(int((directory / "aardvark.pid").read_text().strip()), signal.SIGHUP)
            except (FileNotFoundError, ValueError, ProcessLookupError):
                pass   # no aardvark-dns running: it reads the files when it starts


# netavark's host-wide chains: made at the first setup on the host, never removed by netavark
_HOST_CHAINS = {"filter": ("NETAVARK_FORWARD",),
                "nat": ("NETAVARK-HOSTPORT-DNAT", "NETAVARK-HOSTPORT-MASQ", "NETAVARK-HOSTPORT-SETMARK")}


def idle_chain_commands(rules: dict[str, str]) -> list[list[str]]:
    """The iptables arguments that remove what netavark left unused, given `iptables -t TABLE
    -S` of the filter and nat tables: a network's chain (NETAVARK-<hash>, NETAVARK-DN-<hash>)
    that is empty and that nothing jumps to; and the host-wide chains with the jumps to them
    once no network of any netavark user on the host is set up (no rule in NETAVARK_FORWARD
    nor in NETAVARK-HOSTPORT-DNAT, no network chain in use)."""
    parsed = {table: [shlex.split(line) for line in text.splitlines()]
              for table, text in rules.items()}
    in_use = False
    commands: list[list[str]] = []
    for table, lines in parsed.items():
        host = _HOST_CHAINS.get(table, ())
        chains = [w[1] for w in lines if len(w) == 2 and w[0] == "-N" and w[1].startswith("NETAVARK")]
        with_rules = {w[1] for w in lines if len(w) > 2 and w[0] == "-A"}
        targets = {w[i + 1] for w in lines if w[:1] == ["-A"] for i in range(len(w) - 1) if w[i] == "-j"}
        for chain in chains:
            if chain in host:
                continue
            if chain in with_rules or chain in targets:
                in_use = True
            else:
                commands.append(["-t", table, "-X", chain])
        if with_rules & {"NETAVARK_FORWARD", "NETAVARK-HOSTPORT-DNAT"}:
            in_use = True
    if in_use:
        return commands
    for table, lines in parsed.items():
        host = _HOST_CHAINS.get(table, ())
        present = [c for c in host if ["-N", c] in lines]
        for w in lines:
            if len(w) > 3 and w[0] == "-A" and w[1] not in host and w[-2:-1] == ["-j"] and w[-1] in host:
                commands.append(["-t", table, "-D", *w[1:]])    # a jump to one of them
        commands += [["-t", table, "-F", c] for c in present]
        commands += [["-t", table, "-X", c] for c in present]
    return commands


def _iptables(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["iptables", "-w", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)


def drop_unused_chains() -> None:
    """What netavark leaves in iptables when containers leave, removed under netavark's lock (a
    later setup makes again what it needs; idle_chain_commands says what goes): netavark 1.4
    leaves a network's port-forwarding chain (NETAVARK-DN-<hash>) behind when the container
    that published ports is not the last to leave, and never removes its host-wide chains
    (NETAVARK_FORWARD, NETAVARK-HOSTPORT-*) nor the jumps to them from FORWARD, PREROUTING,
    OUTPUT and POSTROUTING. Once no network is set up on the host, its tables are as they were
    before the first one. A host where podman's networks run keeps them: their rules are in
    those chains."""
    with flock(RUN_DIR / "netavark.lock"):
        rules = {}
        for table in _HOST_CHAINS:
            proc = _iptables("-t", table, "-S")
            if proc.returncode != 0:
                return
            rules[table] = proc.stdout
        for args in idle_chain_commands(rules):
            _iptables(*args)


# -- the namespace file ------------------------------------------------------------------------
def make_netns(path: Path) -> None:
    """A new network namespace kept alive by a bind mount on `path`."""
    if _is_nsfs(path):
        return
    path.touch(mode=0o444)
    proc = subprocess.run(["unshare", f"--net={path}", "true"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        path.unlink(missing_ok=True)
        raise RuntimeFailure("cannot make the container's network namespace: "
                             + proc.stderr.decode(errors="replace").strip())


def bind_netns(source: str, path: Path) -> None:
    """Keep the network namespace `source` (/proc/PID/ns/net) alive by a bind mount on `path`."""
    if _is_nsfs(path):
        return
    if os.stat(source).st_ino == os.stat("/proc/self/ns/net").st_ino:
        # never configure the host's own namespace as a container's
        raise RuntimeFailure(f"{source} is the host's network namespace")
    path.touch(mode=0o444)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(os.fsencode(source), os.fsencode(path), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        path.unlink(missing_ok=True)
        raise RuntimeFailure(f"cannot keep the network namespace {source}: {os.strerror(err)}")


def remove_netns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    while _is_nsfs(path):
        if libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
            break
    path.unlink(missing_ok=True)


def _is_nsfs(path: Path) -> bool:
    want = os.fsencode(os.path.realpath(path))
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 8 and fields[4] == want:
                    sep = fields.index(b"-")
                    if fields[sep + 1] == b"nsfs":
                        return True
    except FileNotFoundError:
        pass
    return False
