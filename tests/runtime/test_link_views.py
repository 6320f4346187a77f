"""A link's view of a network (netavark.LinkView, "links on networks with DNS") as the real
aardvark-dns 1.4 reads it: the files dockyard writes beside netavark's, served by aardvark-dns on
loopback addresses (the host's: 127.0.0.0/8), asked from the linking container's address and from
another one of the network. No container, no netns: ~0.1 s."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
from pathlib import Path

from dockyard.runtime.network import netavark

LINKER, TARGET, THIRD = "a" * 64, "b" * 64, "c" * 64
NETWORK = "d" * 64


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ask(server: tuple[str, int], source: str, name: str, wait: float = 30) -> tuple[int, list[str]] | None:
    """(rcode, IPv4 addresses) aardvark-dns answers `source` for `name`; None: no answer within
    `wait` seconds (each asked question gets one: the 0.2 s it had was a deadline on a server
    that a loaded machine may not run for longer; a lookup's answer comes in milliseconds)."""
    query = os.urandom(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(wait)
        s.sendto(query, server)
        try:
            answer = s.recv(512)
        except OSError:
            return None
    count, rest = struct.unpack("!H", answer[6:8])[0], answer[len(query):]
    found = []
    for _ in range(count):   # (each answer's name is a 2-byte pointer to the question)
        kind, _, _, size = struct.unpack("!HHIH", rest[2:12])
        if kind == 1:
            found.append(socket.inet_ntoa(rest[12:12 + size]))
        rest = rest[12 + size:]
    return answer[3] & 0x0F, found


def _serve(directory: Path, port: int, asks: list[tuple[str, str]]) -> list:
    subprocess.run([netavark._binary("aardvark-dns"), "--config", str(directory), "-p", str(port), "run"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    pid = int((directory / "aardvark.pid").read_text())
    try:
        for _ in range(100):   # its listeners start after its pid file: until one answers
            if _ask(("127.0.0.1", port), "127.0.0.1", "x", 0.2) is not None:
                break
        return [_ask(("127.0.0.1", port), source, name) for source, name in asks]
    finally:
        os.kill(pid, signal.SIGTERM)


def test_aardvark_dns_answers_a_view_to_the_linking_container_alone(tmp_path: Path) -> None:
    directory = tmp_path / "aardvark-dns"
    directory.mkdir()
    (directory / NETWORK).write_text(
        f"127.0.0.1\n{LINKER} 127.0.0.3  linker,{LINKER[:12]}\n{TARGET} 127.0.0.2  target,{TARGET[:12]} 127.0.0.9\n"
        f"{THIRD} 127.0.0.4  third,{THIRD[:12]}\n")
    entries = netavark._entries(directory / NETWORK)
    view = netavark._view_text(LINKER, NETWORK, entries, {TARGET: ["al", "al2"], "e" * 64: ["gone"]})
    assert netavark._parses(view)
    # the target's DNS server is kept (aardvark keeps one list per address); a link whose
    # target is not on the network has no line
    assert view.splitlines()[2:] == [f"link.{LINKER[:12]}.{NETWORK[:12]}.{TARGET[:12]} 127.0.0.2  al,al2 127.0.0.9"]
    (directory / f".link.{LINKER}.{NETWORK}").write_text(view)
    seen = _serve(directory, _free_udp_port(), [("127.0.0.3", "al"), ("127.0.0.3", "al2"), ("127.0.0.3", "target"),
                                                ("127.0.0.4", "al"), ("127.0.0.4", "target")])
    assert seen == [(0, ["127.0.0.2"]), (0, ["127.0.0.2"]), (0, ["127.0.0.2"]), (3, []), (0, ["127.0.0.2"])]


def test_no_view_without_an_address() -> None:
    """No address for the target (stopped): no line; none for the linker: no view."""
    entries = {LINKER: ("127.0.0.3", "linker", ""), TARGET: ("", "target", "")}
    assert netavark._view_text(LINKER, NETWORK, entries, {TARGET: ["al"]}) == ""
    assert netavark._view_text(LINKER, NETWORK, {TARGET: ("127.0.0.2", "t", "")}, {TARGET: ["al"]}) == ""
    assert not netavark._parses("127.0.0.1\nx 127.0.0.2 al")          # too few fields
    assert not netavark._parses("127.0.0.1\nx 127.0.0.2  al nope")    # a server that is no address
    assert not netavark._parses("")
