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
import ipaddress
import json
import os
import shutil
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable, Sequence

from dockyard.dataclass import dataclass, field
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
    legacy_name: bool = False           # joined before netavark knew networks by ID (netavark_name)


@dataclass
class PortMapping:
    """One published port (range: how many ports from container_port and host_port)."""

    container_port: int
    protocol: str                       # tcp | udp | sctp
    host_ip: str                        # "" = every address
    host_port: int
    range: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"container_port": self.container_port, "host_ip": self.host_ip,
                "host_port": self.host_port, "protocol": self.protocol, "range": self.range}


def netavark_name(network: NetworkRecord, legacy: bool = False) -> str:
    """The network's name as netavark is told it: its ID. netavark names two things after it:
    the network's nat chain (NETAVARK-<hash of the name>), which is host-wide, and its
    aardvark-dns file (`<config>/aardvark-dns/NAME`). Docker's names are a store's own: every
    store has its `bridge`, two stores may each have an `app`. Told their names, such networks
    shared one chain (NETAVARK-7D24D33E39064: every default bridge's, the chain found left on
    this host), whose masquerade rule is the same line for all: the first network to be torn
    down removed it, and the others' containers lost their way out. A name that is no plain
    file name ('../../etc', 'a/b', 300 characters) wrote outside the store or failed every
    join. The ID is unique, a plain file name, and fixed for the network's life.

    `legacy`: the name a container that joined before this was set up with, which its
    teardown must give again (the user's name, else the ID as above)."""
    if not legacy:
        return network.id
    name = network.name
    if (len(name.encode()) > 128 or name.startswith(".") or name == "aardvark.pid"
            or "/" in name or "\0" in name):
        return network.id
    return name


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
        name = netavark_name(n, a.legacy_name)
        networks[name] = per
        options: dict[str, str] = {}
        if n.mtu:
            options["mtu"] = str(n.mtu)
        info[name] = {
            "name": name, "id": n.id, "driver": "bridge", "network_interface": n.interface,
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


def _run(config_dir: Path, command: str, netns: Path, payload: bytes,
         views: Sequence[LinkView] = ()) -> bytes:
    config_dir.mkdir(parents=True, exist_ok=True)
    args = [_binary("netavark"), "--config", str(config_dir), "--rootless", "false",
            "--aardvark-binary", _binary("aardvark-dns"), command, str(netns)]
    # aardvark-dns, started by netavark, outlives it: it must not hold our pipes open, so
    # netavark's output goes to files, not pipes.
    out_path = config_dir / f".{command}.{os.getpid()}.out"
    stdin = _stdin(config_dir, payload)
    body = json.loads(payload)
    try:
        with flock(RUN_DIR / "netavark.lock"), open(out_path, "w+b") as out:
            os.unlink(out_path)
            for view in views:
                view.save(config_dir)
            # the link views as they are once netavark is done, before it: its one reload of
            # aardvark-dns reads them with its own entries (see "links on networks with DNS")
            _render_views(config_dir, _change(command, body))
            proc = subprocess.run(args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                  close_fds=True, env={**os.environ, "NETAVARK_FW": "iptables"})
            if command == "setup" and proc.returncode == 0:
                for info in body.get("network_info", {}).values():
                    pin_bridge_mac(info["network_interface"])
            out.seek(0)
            data = out.read()
            if _render_views(config_dir, {}):   # what netavark did not do as told (a failure)
                _reload_dns(config_dir / "aardvark-dns")
            ensure_dns(config_dir)
    finally:
        os.close(stdin)
    if proc.returncode != 0:
        raise RuntimeFailure(f"netavark {command} failed: {_error(data)}")
    if command == "teardown":
        _wait_gone(config_dir, body)
    return data


SIOCSIFHWADDR = 0x8924
ARPHRD_ETHER = 1
NET_ADDR_SET = "3"   # /sys/class/net/*/addr_assign_type of an address set by hand


def pin_bridge_mac(bridge: str) -> None:
    """The bridge keeps the MAC address it has now. Left alone, the kernel gives a bridge the
    lowest address of its ports, and netavark 1.4 leaves it so: when a container of the network
    stops or starts, its host-side veth (a random address) goes or comes, and the bridge's
    address can change under the others. Their ARP entry for the gateway then names an address
    no port has, so their packets to it (DNS to aardvark-dns, the host) are lost until that entry
    is probed again: 30 s to 100 s. An address set by hand the kernel keeps (NET_ADDR_SET), as
    dockerd's bridges have one; netavark does this itself from 1.9 (730e1bf "bridge: force
    static mac on bridge interface"), after the first veth is attached, as here (after a setup)."""
    import fcntl
    import socket
    import struct

    base = f"/sys/class/net/{bridge}"
    try:
        with open(f"{base}/addr_assign_type") as f:
            if f.read().strip() == NET_ADDR_SET:
                return
        with open(f"{base}/address") as f:
            mac = bytes.fromhex(f.read().strip().replace(":", ""))
        request = struct.pack("16sH14s", bridge.encode(), ARPHRD_ETHER, mac)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock.fileno(), SIOCSIFHWADDR, request)
    except (OSError, ValueError):
        pass   # no such bridge (now), or not one with an Ethernet address


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


def setup(config_dir: Path, netns: Path, payload: bytes,
          views: Sequence[LinkView] = ()) -> dict[str, Any]:
    """Configure `netns`; the status: network name -> {interfaces, dns_server_ips...}.
    `views`: the container's links on its networks with DNS (LinkView)."""
    data = _run(config_dir, "setup", netns, payload, views)
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
    its files on SIGHUP, as after a netavark setup; the rename returns once it answers it."""
    directory = config_dir / "aardvark-dns"
    with flock(RUN_DIR / "netavark.lock"):
        renamed: list[tuple[str, str]] = []   # (gateway, address) of each network it is on
        for path in _network_files(directory):
            lines = path.read_text().split("\n")
            for i, line in enumerate(lines):
                fields = line.split(" ")
                if i and len(fields) >= 4 and fields[0] == container_id:
                    names = [new_name if n == old_name else n for n in fields[3].split(",")]
                    lines[i] = " ".join([*fields[:3], ",".join(names), *fields[4:]])
                    renamed.append((lines[0].split(" ")[0].split(",")[0], fields[1].split(",")[0]))
            text = "\n".join(lines)
            if text != path.read_text() and _parses(text):
                _replace(path, text)
        if _render_views(config_dir, {}) or renamed:
            _reload_dns(directory)
    for gateway, ip in renamed:
        if ip:
            wait_dns(gateway, new_name, ip)


def _network_files(directory: Path) -> list[Path]:
    """The networks' files in aardvark-dns's folder (netavark's), not its pid nor the views."""
    try:
        return [f for f in directory.iterdir() if f.name != "aardvark.pid" and not f.name.startswith(".")]
    except FileNotFoundError:
        return []


def _reload_dns(directory: Path) -> None:
    """aardvark-dns rereads its files on SIGHUP, as after a netavark setup."""
    try:
        os.kill(int((directory / "aardvark.pid").read_text().strip()), signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass   # no aardvark-dns running: it reads the files when it starts


def ensure_dns(config_dir: Path) -> None:
    """aardvark-dns runs while a network of the store has its file (under netavark.lock). It
    exits on a file it cannot parse (netavark 1.4 rewrites a network's file in place at a
    teardown: a reload at that moment reads half of it), and where nothing reaps it (a pid 1
    that does not: containers, CI) it stays a zombie whose pid netavark's SIGHUP still reaches,
    so netavark starts no other: the store's containers resolved nothing until the store had no
    network left. One is started as netavark starts it."""
    directory = config_dir / "aardvark-dns"
    if not _network_files(directory):
        return
    try:
        pid = int((directory / "aardvark.pid").read_text().strip())
        with open(f"/proc/{pid}/stat", "rb") as f:
            name, _, rest = f.read().partition(b" (")[2].rpartition(b") ")
        alive = name == b"aardvark-dns" and rest.split()[0] != b"Z"
    except (OSError, ValueError, IndexError):
        alive = False
    if alive:
        return
    (directory / "aardvark.pid").unlink(missing_ok=True)
    # (it forks: the parent returns once the server wrote its pid file)
    subprocess.run([_binary("aardvark-dns"), "--config", str(directory), "-p",
                    os.environ.get("NETAVARK_DNS_PORT", "53"), "run"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   close_fds=True)


def _wait_gone(config_dir: Path, body: dict[str, Any]) -> None:
    """After a teardown: until aardvark-dns's reload is done (it no longer answers the container's
    short ID on its networks with DNS that still have a file), so that a lookup right after a
    stop finds what is there now (a link's alias no longer answered), not the listeners' restart."""
    directory = config_dir / "aardvark-dns"
    for name, info in (body.get("network_info") or {}).items():
        if info.get("dns_enabled") and (directory / name).exists():
            for subnet in info.get("subnets") or ():
                if subnet.get("gateway"):
                    wait_dns(subnet["gateway"], body["container_id"][:12], None)


# -- links on networks with DNS ------------------------------------------------------------------
# `docker run --network NET --link NAME:ALIAS`: dockerd's DNS answers ALIAS with NAME's address on
# NET to the linking container only (its endpoint's aliases), while NAME is on NET. aardvark-dns
# answers a query with the names of the networks its asker's address is in, so each linking
# container gets a view of its own on each such network: one more file in aardvark-dns's folder,
#
#     .link.<linking ID>.<network>           (no network's file: their names never start with '.')
#     <linking address>                      where this view "listens": the container's own
#                                            address, which the host never holds (its listener
#                                            fails to bind), so it takes no port from the network's
#                                            server on the gateway
#     link.<ID12>.<NET12> <linking address>  <its names on the network> [<its DNS servers>]
#     link.<ID12>.<NET12>.<TARGET ID12> <TARGET's address on the network>  <ALIAS,...> [<its servers>]
#
# The first entry puts the linking container in the view (its names as the network's file has
# them: a reverse lookup answers the same either way), each other one the aliases of a link on
# the target's address; an entry carries the DNS servers its address has in the network's file
# (aardvark keeps one list per address: the last file read sets it). A target with no address
# on the network (stopped, disconnected) has no entry: the alias is not answered, as dockerd's.
# The links themselves are dockyard's (LinkView, in <config>/links/, outside aardvark's folder),
# saved before the linking container's setup and gone with its teardown. Every view is written
# under netavark.lock, before each netavark setup and teardown, as the network's file will be
# after it (_change), so netavark's one reload of aardvark-dns reads it: a container's start
# waits for that reload (endpoints' wait_dns) and a stop too (_wait_gone). A view is checked to
# parse as aardvark-dns 1.4.0 parses it (_parses: it exits on a file it cannot) before it is
# renamed in, from a file made beside the folder (aardvark reads every file in it).
_VIEW = ".link."
_LINKS = "links"


@dataclass
class LinkView:
    """A linking container's links on a network (see above): its address and names there as
    netavark writes them (`NAME,ALIAS...`), and its links: the target's container ID -> aliases."""

    container_id: str
    network: str
    ip: str
    names: str
    targets: dict[str, list[str]]

    def save(self, config_dir: Path) -> None:
        """dockyard's own list (the views are made from it), before the container's setup."""
        from dockyard.atomic import replace_file

        targets = {t: [a for a in aliases if _plain(a)] for t, aliases in self.targets.items() if _plain(t)}
        path = config_dir / _LINKS / f"{self.container_id}.{self.network}"
        path.parent.mkdir(exist_ok=True)
        # (not fsynced: remade at each start of the container; a host crash stops it)
        replace_file(path, json.dumps({t: a for t, a in targets.items() if a}).encode(), tmp_dir=config_dir)


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _plain(name: str) -> bool:
    """A name a line of aardvark-dns's files can hold (Docker's container names and aliases)."""
    return name[:1].isalnum() and set(name) <= _NAME_CHARS


Entry = tuple[str, str, str]   # a container's IPv4 address, names and DNS servers in a network's file


def _change(command: str, body: dict[str, Any]) -> dict[str, dict[str, Entry | None]]:
    """What netavark's `command` does to the networks' files: by network with DNS, the
    container's entry it writes (setup), or None for the one it removes (teardown)."""
    change: dict[str, dict[str, Entry | None]] = {}
    for name, per in (body.get("networks") or {}).items():
        if not (body.get("network_info") or {}).get(name, {}).get("dns_enabled"):
            continue
        entry = None
        if command == "setup":
            names = ",".join([body["container_name"], *(per.get("aliases") or [])])
            entry = (",".join(per.get("static_ips") or []), names, ",".join(body.get("dns_servers") or []))
        change[name] = {body["container_id"]: entry}
    return change


def _entries(network_file: Path) -> dict[str, Entry]:
    """The entries of a network's file: container ID -> its entry."""
    entries: dict[str, Entry] = {}
    try:
        lines = network_file.read_text().split("\n")[1:]
    except FileNotFoundError:
        return entries
    for fields in (line.split(" ") for line in lines):
        if len(fields) >= 4:
            entries[fields[0]] = (fields[1], fields[3], fields[4] if len(fields) > 4 else "")
    return entries


def _view_text(linker: str, network: str, entries: dict[str, Entry], targets: dict[str, list[str]]) -> str:
    """The view's file (see above), "" for none: the linker is not on the network, or no
    target has an address there."""
    own = entries.get(linker)
    if own is None or not own[0]:
        return ""
    head = f"link.{linker[:12]}.{network[:12]}"

    def line(name: str, entry: Entry, names: str) -> str:
        return " ".join([name, entry[0].split(",")[0], "", names, *([entry[2]] if entry[2] else [])])

    lines = [line(f"{head}.{t[:12]}", entries[t], ",".join(aliases))
             for t, aliases in targets.items() if t in entries and entries[t][0]]
    if not lines:
        return ""
    names = ",".join(n for n in own[1].split(",") if _plain(n)) or linker[:12]
    return "\n".join([own[0].split(",")[0], line(head, own, names), *lines, ""])


def _parses(text: str) -> bool:
    """Whether aardvark-dns 1.4.0 takes the file (config::parse_config): a first line of
    addresses (then, after a space, servers), then `ID IPv4,... IPv6,... NAMES [SERVERS]` lines
    of single spaces (names as they come: a view's are _plain)."""
    lines = [line for line in text.split("\n") if line]
    if not lines:
        return False

    def addresses(field: str, version: int | None = None) -> bool:
        try:
            return all(version in (None, ipaddress.ip_address(a).version) for a in field.split(","))
        except ValueError:
            return False

    first = lines[0].split(" ")
    if not addresses(first[0]) or (len(first) > 1 and not addresses(first[1])):
        return False
    for fields in (line.split(" ") for line in lines[1:]):
        if len(fields) < 4 or not fields[0] or not fields[3]:
            return False
        if (fields[1] and not addresses(fields[1], 4)) or (fields[2] and not addresses(fields[2], 6)):
            return False
        if len(fields) > 4 and fields[4] and not addresses(fields[4]):
            return False
    return True


def _render_views(config_dir: Path, change: dict[str, dict[str, Entry | None]]) -> bool:
    """Every link view as dockyard's lists and the networks' files (with `change`: _change) have
    them, written or removed (see above; under netavark.lock). A list whose linking container
    is not on its network goes with its view. Whether a view changed."""
    directory = config_dir / "aardvark-dns"
    try:
        lists = list((config_dir / _LINKS).iterdir())
    except FileNotFoundError:
        lists = []
    wanted: dict[str, str] = {}
    for path in lists:
        linker, _, network = path.name.partition(".")
        entries = _entries(directory / network)
        for container_id, entry in change.get(network, {}).items():
            if entry is None:
                entries.pop(container_id, None)
            else:
                entries[container_id] = entry
        if linker not in entries:
            path.unlink(missing_ok=True)
            continue
        try:
            targets = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        text = _view_text(linker, network, entries, targets)
        if text and _parses(text):
            wanted[f"{_VIEW}{path.name}"] = text
    changed = False
    try:
        present = [p for p in directory.iterdir() if p.name.startswith(_VIEW)]
    except FileNotFoundError:
        present = []
    for view in present:
        if view.name not in wanted:
            view.unlink(missing_ok=True)
            changed = True
    for name, text in wanted.items():
        try:
            old = (directory / name).read_text()
        except FileNotFoundError:
            old = ""
        if text != old:
            _replace(directory / name, text)
            changed = True
    return changed


def _replace(path: Path, text: str) -> None:
    """A file of aardvark-dns's replaced whole; the new one made beside its folder, never in
    it: aardvark-dns reads every file there, and a line it cannot parse ends it. (Not fsynced:
    remade at each setup and teardown.)"""
    from dockyard.atomic import replace_file

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, text.encode(), tmp_dir=path.parent.parent)


# netavark's host-wide chains: made at the first setup on the host, never removed by netavark
_HOST_CHAINS = {"filter": ("NETAVARK_FORWARD",),
                "nat": ("NETAVARK-HOSTPORT-DNAT", "NETAVARK-HOSTPORT-MASQ", "NETAVARK-HOSTPORT-SETMARK")}


def idle_chain_commands(rules: dict[str, str]) -> list[list[str]]:
    """The iptables arguments that remove what netavark left unused, given `iptables -t TABLE
    -S` of the filter and nat tables: a network's chain (NETAVARK-<hash>, NETAVARK-DN-<hash>)
    that nothing jumps to; and the host-wide chains with the jumps to them once no network of
    any netavark user on the host is set up (no rule in NETAVARK_FORWARD nor in
    NETAVARK-HOSTPORT-DNAT, no network chain in use)."""
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
            if chain in targets:
                in_use = True
            else:   # nothing jumps to it: its rules (a masquerade a killed run left) do nothing
                commands += [["-t", table, "-F", chain]] if chain in with_rules else []
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
    _edit_tables(idle_chain_commands)


def _edit_tables(commands_for: Callable[[dict[str, str]], list[list[str]]]) -> None:
    """Under netavark's lock: list the filter and nat tables (`iptables -t TABLE -S`) and run
    the iptables commands `commands_for` makes of that listing (nothing if one cannot be read)."""
    with flock(RUN_DIR / "netavark.lock"):
        rules = {}
        for table in _HOST_CHAINS:
            proc = _iptables("-t", table, "-S")
            if proc.returncode != 0:
                return
            rules[table] = proc.stdout
        for args in commands_for(rules):
            _iptables(*args)


def subnet_rule_commands(rules: dict[str, str], subnet: str) -> list[list[str]]:
    """The iptables arguments that delete netavark's rules of one network, given `iptables -t
    TABLE -S` of the filter and nat tables: its forwarding rules (`-s`/`-d` the subnet), its
    masquerade jump from POSTROUTING and its rules in the network's chain, and its published
    ports (a DNAT to an address of the subnet, the marks of its port, the jump to its port
    chain for that port)."""
    net = ipaddress.IPv4Network(subnet)
    commands: list[list[str]] = []
    ports: set[tuple[str, str]] = set()   # (protocol, host port) of its DNAT rules
    parsed = {table: [shlex.split(line) for line in text.splitlines()]
              for table, text in rules.items()}

    def value(words: list[str], flag: str) -> str | None:
        return words[words.index(flag) + 1] if flag in words[:-1] else None

    def in_net(text: str | None) -> bool:
        if not text:
            return False
        try:
            if "/" in text:
                return ipaddress.IPv4Network(text, strict=False).subnet_of(net)
            return ipaddress.IPv4Address(text.rsplit(":", 1)[0] if "." in text else text) in net
        except ValueError:
            return False

    def rule(w: list[str]) -> bool:
        return w[:1] == ["-A"] and len(w) > 2

    for table, lines in parsed.items():
        for w in lines:
            if rule(w) and (w[1].startswith("NETAVARK") or w[-1].startswith("NETAVARK")) and (
                    in_net(value(w, "-s")) or in_net(value(w, "-d"))
                    or in_net(value(w, "--to-destination"))):
                commands.append(["-t", table, "-D", *w[1:]])
                if value(w, "-j") == "DNAT":
                    ports.add((value(w, "-p") or "", value(w, "--dport") or ""))
    for table, lines in parsed.items():   # the same port's other rules: its marks, its jump
        for w in lines:
            if rule(w) and (w[1] == "NETAVARK-HOSTPORT-DNAT" or w[1].startswith("NETAVARK-DN-")) \
                    and (value(w, "-p") or "", value(w, "--dport") or "") in ports \
                    and ["-t", table, "-D", *w[1:]] not in commands:
                commands.append(["-t", table, "-D", *w[1:]])
    return commands


def rule_subnets(rules: dict[str, str]) -> set[ipaddress.IPv4Network]:
    """The subnets netavark's rules are for, given `iptables -t TABLE -S` of the filter and nat
    tables: the source of each jump from POSTROUTING to a network's chain."""
    out = set()
    for line in rules.get("nat", "").splitlines():
        w = shlex.split(line)
        if w[:2] == ["-A", "POSTROUTING"] and w[-2:-1] == ["-j"] and w[-1].startswith("NETAVARK-") \
                and "-s" in w[:-1] and not w[-1].startswith("NETAVARK-HOSTPORT"):
            try:
                out.add(ipaddress.IPv4Network(w[w.index("-s") + 1], strict=False))
            except ValueError:
                continue
    return out


def listed_subnets() -> set[ipaddress.IPv4Network]:
    """rule_subnets of the host's tables now."""
    found: set[ipaddress.IPv4Network] = set()
    _edit_tables(lambda rules: found.update(rule_subnets(rules)) or [])
    return found


def _stop_orphan_dns() -> None:
    """Stop the aardvark-dns servers whose configuration directory is gone (a deleted store's:
    one left running answers NXDOMAIN on its gateway address for a network that takes the same
    subnet later)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [os.fsdecode(a) for a in f.read().split(b"\0")]
        except OSError:
            continue
        if not argv or not argv[0].endswith("aardvark-dns") or "--config" not in argv[:-1]:
            continue
        if not os.path.isdir(argv[argv.index("--config") + 1]):
            try:
                os.kill(int(entry), signal.SIGTERM)
            except ProcessLookupError:
                pass


def sweep_network(subnet: str) -> None:
    """What a network on `subnet` left on the host when its store went with containers still
    joined (a killed run: nobody tore them down): the network namespaces mounted anywhere
    that hold an address of the subnet (their veths go with them), the aardvark-dns servers of
    deleted stores, its bridge (a `dy-` interface with the subnet's gateway), netavark's rules
    of the subnet, then what netavark leaves unused. For a subnet no network owns
    (subnets.sweep_stale)."""
    net = ipaddress.IPv4Network(subnet)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            mounts = [os.fsdecode(line.split()[4]) for line in f if b" - nsfs " in line]
    except OSError:
        mounts = []
    host = os.stat("/proc/self/ns/net").st_ino
    for mount in mounts:
        try:   # the host's own namespace (a dockerd keeps one at <exec-root>/netns/default) holds
            if os.stat(mount).st_ino == host:   # the gateway's address: never ours to remove
                continue
        except OSError:
            continue
        inside = subprocess.run(["nsenter", f"--net={mount}", "ip", "-4", "-o", "addr", "show"],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True).stdout
        if any(ipaddress.IPv4Interface(f[3]).ip in net for f in map(str.split, inside.splitlines())
               if len(f) > 3 and f[2] == "inet"):
            remove_netns(Path(mount))
    _stop_orphan_dns()
    sweep_leftovers(subnet)
    drop_unused_chains()


def sweep_leftovers(subnet: str) -> None:
    """What netavark left on the host of a network on `subnet` once no container is on it: its
    bridge (a `dy-` interface with the subnet's gateway) and its rules (the chains then unused
    are the caller's to drop: drop_unused_chains, once for many). Its teardown leaves them when
    it fails (a kill in it, a chain shared with another network: see netavark_name). For a
    subnet that its network lets go, or that no network holds (subnets.release,
    sweep_unclaimed)."""
    net = ipaddress.IPv4Network(subnet)
    gateway = f"{net.network_address + 1}/{net.prefixlen}"
    listed = subprocess.run(["ip", "-4", "-o", "addr", "show"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True).stdout
    for fields in map(str.split, listed.splitlines()):
        if len(fields) > 3 and fields[3] == gateway and fields[1].startswith("dy-"):
            remove_anchor(fields[1])
            subprocess.run(["ip", "link", "del", fields[1]], stdin=subprocess.DEVNULL,
                           capture_output=True)
    _remove_lost_anchors()
    _edit_tables(lambda rules: subnet_rule_commands(rules, subnet))


# -- the anchor: what keeps a bridge up --------------------------------------------------------
def _anchor_names(bridge: str) -> tuple[str, str]:
    """The anchor's veth pair of bridge `dy-X`: dz-X (the bridge's port) and its peer dx-X."""
    return f"dz-{bridge[3:]}", f"dx-{bridge[3:]}"


def add_anchor(bridge: str) -> None:
    """A port that keeps `bridge` up: netavark deletes a bridge, and tears its network's rules
    down, when a teardown leaves it with no port. The port is one end of a veth pair on the host
    (the kernel here has no dummy links), down. Nothing when it is there, or the bridge is not."""
    port, peer = _anchor_names(bridge)
    if not bridge.startswith("dy-") or os.path.exists(f"/sys/class/net/{port}") \
            or not os.path.exists(f"/sys/class/net/{bridge}"):
        return
    subprocess.run(["ip", "link", "add", port, "master", bridge, "type", "veth", "peer", "name", peer],
                   stdin=subprocess.DEVNULL, capture_output=True)


def _remove_lost_anchors() -> None:
    """Anchors whose bridge went without them (deleted by a dockyard from before anchors, or by
    hand): a port made with its master in one request has one until its bridge goes."""
    try:
        names = [n for n in os.listdir("/sys/class/net") if n.startswith("dz-")]
    except OSError:
        return
    for name in names:
        if not os.path.exists(f"/sys/class/net/{name}/master"):
            subprocess.run(["ip", "link", "del", name], stdin=subprocess.DEVNULL, capture_output=True)


def remove_anchor(bridge: str) -> None:
    """The anchor of `bridge` goes (its pair with it): its next teardown with no container
    left removes the bridge."""
    port, _ = _anchor_names(bridge)
    if bridge.startswith("dy-") and os.path.exists(f"/sys/class/net/{port}"):
        subprocess.run(["ip", "link", "del", port], stdin=subprocess.DEVNULL, capture_output=True)


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


def wait_dns(server: str, name: str, ip: str | None, seconds: float = 1.0) -> bool:
    """Wait until aardvark-dns at `server` (a network's gateway) answers `name` with `ip` (None:
    answers that there is no such name): its reload after a setup or teardown (SIGHUP: it
    rereads its files and restarts its listeners) is asynchronous, and a container whose first
    lookups came before it ended found no server or no name (a compose one-off pinging its
    service at its start, under load). dockerd's embedded DNS knows a container before its
    process starts: with this wait, so does dockyard's. Whether it answered within `seconds`
    (else the start goes on: a lookup then only retries, as before)."""
    import socket
    import time

    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query = os.urandom(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + question + b"\x00\x01\x00\x01"
    wanted = socket.inet_aton(ip) if ip else None
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while True:
            try:
                sock.settimeout(0.05)
                sock.sendto(query, (server, 53))
                answer = sock.recv(512)
                if answer[:2] == query[:2] and (
                        answer[3] & 0x0F == 3 if wanted is None   # NXDOMAIN
                        else answer[6:8] != b"\0\0" and wanted in answer[len(query):]):
                    return True
            except OSError:      # no listener yet (refused), or no answer in time
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
