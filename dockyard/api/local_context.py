"""A client's build context read where it lies: `POST /dockyard/build` (not Docker's API).

When `dockyard -H unix://... build DIR` talks to a `dockyard serve` on the same host, the docker
CLI's protocol (the whole context packed as a tar on every build, unpacked by the daemon into a
temporary directory, then read again by COPY) costs several times the build itself for a large
context: 200 MB / 10,000 files took ~15 s through serve, ~2.4 s in-process. Here the client names
its context directory instead, and the daemon reads it in place, as the in-process build does.

The daemon takes the directory only after proving it sees the same files as the client:
- the request came over a unix socket, from a process whose credentials (SO_PEERCRED) the kernel
  gives: a client of another uid than the daemon's (and not root) is declined, so nobody gets a
  file into an image through the daemon that they could not read themselves;
- the client lives in the daemon's mount namespace and has the same root directory
  (/proc/PID/ns/mnt and /proc/PID/root against the daemon's own): so every absolute path
  resolves to the same file for both; a client in a container or a chroot is declined;
- the directory at the path has the device and inode the client stat'ed (nothing swapped it).
Declined: 412, and the client sends the context as a tar to `POST /build` as the docker CLI
does. A daemon without this route answers 404 (dockerd, older dockyard): the same fallback.
"""

from __future__ import annotations

import os
import socket
import struct

from dockyard.errors import InvalidParameter

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Declined(Exception):
    """The daemon cannot prove it sees the client's directory: the client sends a tar instead."""


def peer_credentials(sock: socket.socket) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end of a unix socket; None for TCP."""
    if sock.family != socket.AF_UNIX:
        return None
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    return _UCRED.unpack(data)


def _same_object(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def parse_identity(text: str) -> tuple[int, int]:
    """`DEV:INO` as the client sends its directory's identity."""
    dev, sep, ino = text.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        raise InvalidParameter(f"invalid contextid {text!r}: want DEV:INO")
    return int(dev), int(ino)


def shared_directory(sock: socket.socket, path: str, identity: tuple[int, int]) -> str:
    """`path`, once proved to be the directory the client at the other end of `sock` named
    (see the module's docstring); `Declined` otherwise."""
    if not os.path.isabs(path):
        raise InvalidParameter(f"invalid context {path!r}: want an absolute path")
    cred = peer_credentials(sock)
    if cred is None:
        raise Declined("the client is not on a unix socket of this host")
    pid, uid, _ = cred
    if uid not in (0, os.geteuid()):
        raise Declined("the client runs as another user than the daemon")
    if not (_same_object("/proc/self/ns/mnt", f"/proc/{pid}/ns/mnt")
            and _same_object("/", f"/proc/{pid}/root")):
        raise Declined("the client sees another file system than the daemon")
    try:
        st = os.stat(path)
    except OSError:
        raise Declined(f"the daemon cannot read {path}") from None
    if (st.st_dev, st.st_ino) != identity:
        raise Declined(f"{path} is not the directory the client named")
    return path
