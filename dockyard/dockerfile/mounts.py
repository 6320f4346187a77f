"""`RUN --mount=...` values (BuildKit's syntax): a CSV of key=value fields -> Mount.

The parse is run twice, as BuildKit does it: when the Dockerfile is read (values holding `$` are
kept for later and not checked) and again at dispatch with the values expanded
(`RunInstruction.expand`). Errors are ValueError with BuildKit's words; the caller adds the
file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dockyard.dataclass import dataclass

__all__ = ["Expander", "Mount", "parse_mount"]

Expander = Callable[[str], str]  # a word -> the word with its variables expanded


@dataclass(slots=True)
class Mount:
    """One `RUN --mount=...` (values unexpanded until `RunInstruction.expand`)."""

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    readonly: bool = True
    id: str = ""
    sharing: str = ""
    required: bool = False
    size: int | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: str | None = None

_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")
_SIZE = r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)$"  # compiled when first used (re's cache), not at each start


def _parse_bool(value: str) -> bool:
    low = value
    if low in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if low in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(value)


def parse_mount(spec: str, expand: Expander | None = None) -> Mount:
    """One `--mount=` value (CSV of key=value). With expand=None, values containing `$` are
    kept for later (the builder calls RunInstruction.expand). Raises ValueError."""
    fields = _csv_fields(spec)
    m = Mount()
    ro_auto = True
    for fld in fields:
        key, has_value, value = fld.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                m.readonly, ro_auto = True, False
            elif key in ("readwrite", "rw"):
                m.readonly, ro_auto = False, False
            elif key == "required":
                if m.type not in ("secret", "ssh"):
                    raise ValueError(f"unexpected key '{key}' for mount type '{m.type}'")
                m.required = True
            else:
                raise ValueError(f"invalid field '{fld}' must be a key=value pair")
            continue
        if expand is not None:
            value = expand(value)
        elif "$" in value:
            if key == "from" and value.index("$") != len(value) - 1:
                raise ValueError(f"'{key}' doesn't support variable expansion, define alias stage instead")
            _set_raw(m, key, value)
            continue
        try:
            if key == "type":
                if value.lower() not in _MOUNT_TYPES:
                    raise ValueError(f'unsupported mount type "{value}"')
                m.type = value.lower()
            elif key == "from":
                m.from_ = value
            elif key in ("source", "src"):
                m.source = value
            elif key in ("target", "dst", "destination"):
                m.target = value
            elif key in ("readonly", "ro"):
                m.readonly, ro_auto = _parse_bool(value), False
            elif key in ("readwrite", "rw"):
                m.readonly, ro_auto = not _parse_bool(value), False
            elif key == "required":
                if m.type not in ("secret", "ssh"):
                    raise ValueError(f"unexpected key '{key}' for mount type '{m.type}'")
                m.required = _parse_bool(value)
            elif key == "size":
                if m.type != "tmpfs":
                    raise ValueError(f"unexpected key '{key}' for mount type '{m.type}'")
                m.size = _ram_bytes(value)
            elif key == "id":
                m.id = value
            elif key == "sharing":
                if value.lower() not in _SHARING:
                    raise ValueError(f'unsupported sharing value "{value}"')
                m.sharing = value.lower()
            elif key in ("mode", "uid", "gid"):
                try:
                    num = int(value, 8 if key == "mode" else 10)
                    if num < 0 or num > 0xFFFFFFFF or not value.isascii() or not value.isdigit():
                        raise ValueError(value)
                except ValueError:
                    raise ValueError(f"invalid value {value} for {key}") from None
                setattr(m, key, num)
            elif key == "env":
                m.env = value
            else:
                raise ValueError(f"unexpected key '{key}' in '{fld}'")
        except ValueError as err:
            if str(err) == value:
                raise ValueError(f"invalid value for {key}: {value}") from None
            raise
    if m.type not in ("secret", "ssh", "cache"):
        for attr in ("mode", "uid", "gid"):
            if getattr(m, attr) is not None:
                raise ValueError(f'{attr} not allowed for "{m.type}" type mounts')
    if ro_auto:
        m.readonly = m.type not in ("cache", "tmpfs")
    if m.type == "secret":
        if m.from_:
            raise ValueError("secret mount should not have a from")
        if m.sharing:
            raise ValueError("secret mount should not define sharing")
        if not m.source and not m.target and not m.id and expand is not None:
            raise ValueError("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise ValueError("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise ValueError(f"invalid cache sharing set for {m.type} mount")
    return m


def _csv_fields(line: str) -> list[str]:
    """One CSV record as Go's encoding/csv reads it (quotes only around a whole field)."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            buf: list[str] = []
            i += 1
            while True:
                j = line.find('"', i)
                if j < 0:
                    raise ValueError('failed to parse csv mounts: extraneous or missing " in quoted-field')
                buf.append(line[i:j])
                i = j + 1
                if i < n and line[i] == '"':
                    buf.append('"')
                    i += 1
                    continue
                if i < n and line[i] != ",":
                    raise ValueError('failed to parse csv mounts: extraneous or missing " in quoted-field')
                break
            fields.append("".join(buf))
        else:
            j = line.find(",", i)
            field_text = line[i:] if j < 0 else line[i:j]
            if '"' in field_text:
                raise ValueError('failed to parse csv mounts: bare " in non-quoted-field')
            fields.append(field_text)
            i = n if j < 0 else j
        if i >= n:
            return fields
        i += 1  # the comma


def _set_raw(m: Mount, key: str, value: str) -> None:
    attr = {"src": "source", "source": "source", "target": "target", "dst": "target",
            "destination": "target", "from": "from_", "id": "id", "env": "env"}.get(key)  # fmt: skip
    if attr:
        setattr(m, attr, value)


def _ram_bytes(value: str) -> int:
    m = re.match(_SIZE, value.strip(), re.IGNORECASE)
    if not m:
        raise ValueError(value)
    mult = 1024 ** " kmgtp".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * mult)

