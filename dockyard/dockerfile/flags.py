"""An instruction's flags (`COPY --chown=1 --link`), read as Docker's BFlags reads them.

A spec names each flag an instruction takes and its kind: a string (`--name=value`), a boolean
(`--name`, `--name=true|false`) or a repeatable string (`--mount=a --mount=b`). Messages are the
reference dockerd's (20.10 classic builder): "Unknown flag: foo".
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.errors import DockerfileError

__all__ = ["BOOL", "NO_FLAGS", "STRING", "STRINGS", "Flags", "parse_flags"]

BOOL, STRING, STRINGS = "bool", "string", "strings"
NO_FLAGS: Mapping[str, str] = {}


class Flags:
    """The flags given, by name; a flag not given reads as "", False or []."""

    __slots__ = ("_used",)

    def __init__(self, used: dict[str, str | bool | list[str]]) -> None:
        self._used = used

    def __contains__(self, name: str) -> bool:
        return name in self._used

    def string(self, name: str) -> str:
        value = self._used.get(name, "")
        return value if isinstance(value, str) else ""

    def optional_string(self, name: str) -> str | None:
        """The value, or None when the flag was not given (`--network=` gives "")."""
        return self.string(name) if name in self._used else None

    def boolean(self, name: str) -> bool:
        return self._used.get(name) is True

    def optional_boolean(self, name: str) -> bool | None:
        """True/False as given, None when the flag was not given."""
        return self.boolean(name) if name in self._used else None

    def strings(self, name: str) -> list[str]:
        value = self._used.get(name)
        return list(value) if isinstance(value, list) else []


def parse_flags(args: list[str], spec: Mapping[str, str]) -> Flags:
    """Check `args` (the node's flag words) against `spec` (name -> BOOL | STRING | STRINGS)."""
    used: dict[str, str | bool | list[str]] = {}
    for arg in args:
        if arg == "--":
            break
        if not arg.startswith("--"):
            raise DockerfileError(f"Arg should start with -- : {arg}")
        flag_name, has_value, value = arg.partition("=")
        name = flag_name[2:]
        kind = spec.get(name)
        if kind is None:
            raise DockerfileError(f"Unknown flag: {name}")
        if name in used and kind != STRINGS:
            raise DockerfileError(f"Duplicate flag specified: {name}")
        if kind == BOOL:
            if has_value and value == "":
                raise DockerfileError(f"Missing a value on flag: {name}")
            low = value.lower()
            if low in ("true", ""):
                used[name] = True
            elif low == "false":
                used[name] = False
            else:
                raise DockerfileError(f"Expecting boolean value for flag {name}, not: {value}")
        elif kind == STRING:
            if not has_value:
                raise DockerfileError(f"Missing a value on flag: {name}")
            used[name] = value
        else:
            if not has_value:
                raise DockerfileError(f"Missing a value on flag: {name}")
            prev = used.setdefault(name, [])
            assert isinstance(prev, list)
            prev.append(value)
    return Flags(used)
