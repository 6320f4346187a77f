"""The host's devices, as a privileged container gets them (containerd's oci.HostDevices, which
Docker's daemon uses): every block, character and FIFO device under /dev, subdirectories
included, except the console and what the runtime mounts itself (pts, shm, mqueue, fd) or what
belongs to other container managers (.lxc, .lxd-mounts, .udev). Symlinks are not followed.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from dockyard.errors import InvalidParameter

_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
_TYPES = {stat.S_IFBLK: "b", stat.S_IFCHR: "c", stat.S_IFIFO: "p"}


def mapped_devices(on_host: str, in_container: str) -> list[dict[str, Any]]:
    """`--device HOST:CONTAINER`: the device at `on_host` (or every device under it, a
    directory), as OCI `linux.devices` entries at their place under `in_container`."""
    try:
        st = os.stat(on_host)
    except OSError as e:
        raise InvalidParameter(f'error gathering device information while adding custom device '
                               f'"{on_host}": {(e.strerror or str(e)).lower()}') from None
    if stat.S_ISDIR(st.st_mode):
        prefix = on_host.rstrip("/")
        return [{**d, "path": in_container.rstrip("/") + d["path"][len(prefix):]}
                for d in host_devices(on_host)]
    kind = _TYPES.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        raise InvalidParameter(f'error gathering device information while adding custom device '
                               f'"{on_host}": not a device node')
    return [{"path": in_container, "type": kind, "major": os.major(st.st_rdev),
             "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
             "uid": st.st_uid, "gid": st.st_gid}]


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """OCI `linux.devices` entries for the devices under `root`, in directory order."""
    out: list[dict[str, Any]] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if entry.name not in _SKIP_DIRS:
                out += host_devices(entry.path)
            continue
        kind = _TYPES.get(stat.S_IFMT(st.st_mode))
        if kind is None or entry.name == "console":
            continue
        out.append({"path": entry.path, "type": kind, "major": os.major(st.st_rdev),
                    "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                    "uid": st.st_uid, "gid": st.st_gid})
    return out
