"""`COPY --chown` names resolved in the image's /etc/passwd and /etc/group, as Docker does
(moby builder/dockerfile/internals_linux.go parseChownFlag). RUN's USER is the runtime's."""

from __future__ import annotations

from pathlib import Path

from dockyard.errors import InvalidParameter
from dockyard.runtime.users import read_entries


def _lookup(rows: list[list[str]], name: str) -> list[str] | None:
    for row in rows:
        if row and row[0] == name:
            return row
    return None


MAX_ID = 4294967294   # the last uid_t a file can have ((uid_t)-1 is chown's "unchanged")


def _number(text: str, what: str) -> int | None:
    """A numeric --chown id, or None for a name. One beyond a file's ids is refused: dockerd
    20.10 chowns to it, the kernel takes it modulo 2**32 (--chown=4294967296 makes root's file)."""
    if not (text.isascii() and text.isdigit()):
        return None
    if int(text) > MAX_ID:
        raise InvalidParameter(f"unable to convert uid/gid chown string to host mapping: {what} {text} is out "
                               f"of range (0-{MAX_ID})")
    return int(text)


def chown_ids(root: Path, spec: str) -> tuple[int, int]:
    """`--chown=user[:group]`: names looked up in the image, numbers taken as they are; a user
    without a group gets gid = uid (Docker's rule for --chown, not the user's primary group)."""
    user, sep, group = spec.partition(":")
    if not sep:
        group = user
    passwd = read_entries(root, "/etc/passwd")
    groups = read_entries(root, "/etc/group")
    number = _number(user, "uid")
    if number is not None:
        uid = number
    else:
        row = _lookup(passwd, user)
        if row is None or len(row) < 3 or not row[2].isdigit():
            raise InvalidParameter(
                "unable to convert uid/gid chown string to host mapping: can't find uid for user "
                f"{user}: no such user: {user}")
        uid = int(row[2])
    number = _number(group, "gid")
    if number is not None:
        gid = number
    else:
        grow = _lookup(groups, group)
        if grow is None or len(grow) < 3 or not grow[2].isdigit():
            raise InvalidParameter(
                "unable to convert uid/gid chown string to host mapping: can't find gid for group "
                f"{group}: no such group: {group}")
        gid = int(grow[2])
    return uid, gid
