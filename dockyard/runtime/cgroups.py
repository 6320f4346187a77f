"""A container's cgroups: where they are, and removing those a killed runtime left.

The OCI runtime makes `/dockyard/<container id>` in each cgroup hierarchy of the host (every v1
controller's and the v2 one) when it creates the container, and removes them at its `delete`.
Killed while it made them (a kill of `start`, of `run`, of its monitor at that moment), it has
not saved the container's state yet: its `delete` then knows no such container and the empty
cgroups stay for ever (~80 found on this host after the crash sweeps). The container's removal
takes them away (removal.destroy): only those of its own ID, only when empty (rmdir of a cgroup
that has processes fails).
"""

from __future__ import annotations

import os

PARENT = "/dockyard"


def path_of(container_id: str) -> str:
    """The container's cgroupsPath in its OCI spec."""
    return f"{PARENT}/{container_id}"


def _hierarchies() -> list[str]:
    """The mount points of the host's cgroup hierarchies (v1 controllers, v2)."""
    out = []
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split()
                try:
                    kind = fields[fields.index(b"-") + 1]
                except (ValueError, IndexError):
                    continue
                if kind in (b"cgroup", b"cgroup2"):
                    out.append(os.fsdecode(fields[4]))
    except OSError:
        pass
    return out


def remove_left(container_id: str) -> None:
    """Remove the container's cgroups that are left, empty (none are, after a runtime's
    `delete`)."""
    for mount in _hierarchies():
        try:
            os.rmdir(mount + path_of(container_id))
        except OSError:   # not there (the usual case), or in use: never forced
            continue
