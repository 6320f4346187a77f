"""`USER name[:group]` resolved in the container's own /etc/passwd and /etc/group.

Behaviour of runc's libcontainer/user.GetExecUser (what Docker uses): numeric IDs pass through
(a numeric user absent from passwd gets gid 0 and home "/"), names must exist. The user's
supplementary groups: as runc's GetExecUser gives them (the groups of /etc/group that list its
name, the primary one left out: BuildKit's RUN), or with `daemon` as dockerd sets them for its
containers (docker run, the classic builder's RUN): its primary group and the groups that list
its name, or the given group alone for `user:group`. The files are read inside the rootfs with
symlinks resolved against the rootfs, never the host.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.dataclass import dataclass, field
from dockyard.errors import InvalidParameter


@dataclass(frozen=True)
class ExecUser:
    """The user a process runs as: uid, gid, supplementary groups, home."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = field(default_factory=tuple)
    home: str = "/"


def resolve_in_root(root: Path, path: str, depth: int = 0) -> Path | None:
    """`path` inside `root`, following symlinks as the container would see them."""
    if depth > 40:
        return None
    current = root
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink():
            target = os.readlink(candidate)
            rest = "/".join(parts[i + 1:])
            base = "" if target.startswith("/") else str(current.relative_to(root))
            return resolve_in_root(root, f"{base}/{target}/{rest}", depth + 1)
        current = candidate
    return current


def read_entries(root: Path, path: str) -> list[list[str]]:
    """The rows of a passwd/group-style file inside `root` (symlinks resolved inside it)."""
    resolved = resolve_in_root(root, path)
    if resolved is None or not resolved.is_file():
        return []
    out = []
    with open(resolved, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line.split(":"))
    return out


def resolve_user(rootfs: Path, user: str, *, daemon: bool = False) -> ExecUser:
    user = user.strip()
    name, _, group = user.partition(":")
    passwd = read_entries(rootfs, "/etc/passwd")
    uid, gid, home, login = 0, 0, "/", ""
    if name == "":
        name = "0"
    match = None
    for e in passwd:
        if len(e) >= 4 and (e[0] == name or (name.isdigit() and e[2] == name)):
            match = e
            break
    if match is not None:
        login = match[0]
        uid, gid = int(match[2] or 0), int(match[3] or 0)
        home = match[5] if len(match) > 5 and match[5] else "/"
    elif name.isdigit():
        uid = int(name)
    else:
        raise InvalidParameter(f"unable to find user {name}: no matching entries in passwd file")
    groups = read_entries(rootfs, "/etc/group")
    if group:
        for e in groups:
            if len(e) >= 3 and (e[0] == group or (group.isdigit() and e[2] == group)):
                gid = int(e[2])
                break
        else:
            if not group.isdigit():
                raise InvalidParameter(
                    f"unable to find group {group}: no matching entries in group file")
            gid = int(group)
    if daemon:
        return ExecUser(uid, gid, tuple(_daemon_groups(groups, login, gid, bool(group))), home)
    extra: list[int] = []
    if login:
        for e in groups:
            if len(e) >= 4 and login in e[3].split(",") and e[2].isdigit():
                g = int(e[2])
                if g != gid and g not in extra:
                    extra.append(g)
    return ExecUser(uid, gid, tuple(extra), home)


def additional_groups(rootfs: Path, wanted: list[str]) -> tuple[int, ...]:
    """--group-add: each a group of the container's /etc/group by name or number, or else a
    number (dockerd's GetAdditionalGroups)."""
    groups = read_entries(rootfs, "/etc/group")
    out: list[int] = []
    for name in wanted:
        match = next((e for e in groups if len(e) >= 3 and e[2].isdigit()
                      and (e[0] == name or e[2] == name)), None)
        if match is not None:
            out.append(int(match[2]))
        elif name.isdigit():
            out.append(int(name))
        else:
            raise InvalidParameter(f"Unable to find group {name}: no matching entries in group file")
    return tuple(out)


def _daemon_groups(groups: list[list[str]], login: str, gid: int, explicit: bool) -> list[int]:
    """The process's supplementary groups, as dockerd sets them (checked with dockerd 20.10:
    `id` in a classic RUN step and in docker run): with an explicit group (`user:group`) that
    group alone; else every group of /etc/group, in file order, that is the primary group or
    lists the user; none found: the primary group. So `id` always shows the primary group among
    the groups."""
    if explicit:
        return [gid]
    out: list[int] = []
    for e in groups:
        if len(e) >= 3 and e[2].isdigit():
            g = int(e[2])
            members = e[3].split(",") if len(e) >= 4 else []
            if (g == gid or (login and login in members)) and g not in out:
                out.append(g)
    return out or [gid]
