"""Parser nodes -> typed instructions (one dataclass per Dockerfile instruction).

Follows Docker's `frontend/dockerfile/instructions`: argument counts, flags per instruction,
HEALTHCHECK durations, heredoc sources of COPY/ADD, ONBUILD restrictions, and the error
messages. Every instruction keeps `original` (the text Docker prints in `Step N/M : ...`),
`start_line`, `end_line` and, where Docker expands variables at dispatch time, an
`expand(lex, env)` method returning an expanded copy.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Self

from dockyard.dockerfile.parser import Heredoc, Node, parse_heredoc_word
from dockyard.dockerfile.shell import ShellError, ShellLex, go_strip
from dockyard.errors import DockerfileError

__all__ = [
    "AddInstruction",
    "ArgDef",
    "ArgInstruction",
    "CmdInstruction",
    "CopyInstruction",
    "EntrypointInstruction",
    "EnvInstruction",
    "ExposeInstruction",
    "FromInstruction",
    "HealthConfig",
    "HealthcheckInstruction",
    "HeredocSource",
    "Instruction",
    "KeyValue",
    "LabelInstruction",
    "MaintainerInstruction",
    "Mount",
    "OnbuildInstruction",
    "RunInstruction",
    "ShellInstruction",
    "StopsignalInstruction",
    "UserInstruction",
    "VolumeInstruction",
    "WorkdirInstruction",
    "instruction_from_node",
    "parse_go_duration",
    "parse_mount",
    "INSTRUCTION_KEYWORDS",
]

Expander = Callable[[str], str]


@dataclass(slots=True, kw_only=True)
class Instruction:
    """Common fields. `original` is the instruction's logical line (continuations joined)."""

    keyword: ClassVar[str] = ""
    original: str
    heredocs: list[Heredoc] = field(default_factory=list)
    line: str = field(default="", compare=False, repr=False)  # the joined line, unstripped
    start_line: int = field(default=0, compare=False)
    end_line: int = field(default=0, compare=False)
    filename: str = field(default="Dockerfile", compare=False, repr=False)

    def __str__(self) -> str:
        return self.original

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(f"{self.filename}:{self.start_line}: {message}")

    def _expander(self, lex: ShellLex, env: Mapping[str, str]) -> Expander:
        def expand(word: str) -> str:
            try:
                return lex.process_word(word, env)
            except ShellError as err:
                raise self.error(err.message) from None

        return expand


@dataclass(slots=True)
class KeyValue:
    key: str
    value: str
    delim: bool = True  # False for the old `ENV key value` form


@dataclass(slots=True)
class ArgDef:
    key: str
    value: str | None = None  # None: declared without a default


@dataclass(slots=True)
class HeredocSource:
    """A COPY/ADD source given inline as a heredoc."""

    path: str  # the heredoc name, used as the file name
    data: str  # content, leading tabs already removed for `<<-`
    expand: bool  # unquoted delimiter: the builder expands variables in data


@dataclass(slots=True)
class HealthConfig:
    """As Docker's container config `Healthcheck`; durations in nanoseconds (0 = inherit)."""

    test: list[str]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


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


# -- the instructions -------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class FromInstruction(Instruction):
    keyword: ClassVar[str] = "FROM"
    base: str
    stage_name: str | None = None
    platform: str | None = None

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """Expand the image and --platform with the meta ARGs (Docker uses only those)."""
        ex = self._expander(lex, env)
        base = ex(self.base)
        if base == "":
            raise self.error(f"base name ({self.base}) should not be blank")
        platform = ex(self.platform) if self.platform is not None else None
        return dataclasses.replace(self, base=base, platform=platform)


@dataclass(slots=True, kw_only=True)
class _CommandLine(Instruction):
    cmd: list[str]
    prepend_shell: bool  # True for shell form: the builder runs SHELL + [cmd[0]]


@dataclass(slots=True, kw_only=True)
class RunInstruction(_CommandLine):
    keyword: ClassVar[str] = "RUN"
    mounts: list[Mount] = field(default_factory=list)
    mount_specs: list[str] = field(default_factory=list)
    network: str | None = None
    security: str | None = None

    @property
    def files(self) -> list[Heredoc]:
        """The heredocs (Docker's ShellInlineFile list)."""
        return self.heredocs

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """Only the --mount values are expanded; the command is left to the shell."""
        if not self.mount_specs:
            return self
        ex = self._expander(lex, env)
        mounts = []
        for spec in self.mount_specs:
            try:
                mounts.append(parse_mount(spec, ex))
            except ValueError as err:
                raise self.error(str(err)) from None
        return dataclasses.replace(self, mounts=mounts)


@dataclass(slots=True, kw_only=True)
class CmdInstruction(_CommandLine):
    keyword: ClassVar[str] = "CMD"


@dataclass(slots=True, kw_only=True)
class EntrypointInstruction(_CommandLine):
    keyword: ClassVar[str] = "ENTRYPOINT"


@dataclass(slots=True, kw_only=True)
class ShellInstruction(_CommandLine):
    keyword: ClassVar[str] = "SHELL"


def _expand_pairs(pairs: list[KeyValue], ex: Expander) -> list[KeyValue]:
    return [KeyValue(ex(p.key), ex(p.value), p.delim) for p in pairs]


@dataclass(slots=True, kw_only=True)
class LabelInstruction(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: list[KeyValue]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, pairs=_expand_pairs(self.pairs, self._expander(lex, env)))


@dataclass(slots=True, kw_only=True)
class EnvInstruction(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: list[KeyValue]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """All pairs see the env as it was before this instruction (as Docker)."""
        return dataclasses.replace(self, pairs=_expand_pairs(self.pairs, self._expander(lex, env)))


@dataclass(slots=True, kw_only=True)
class MaintainerInstruction(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    maintainer: str


_PORT = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(slots=True, kw_only=True)
class ExposeInstruction(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: list[str]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """Each port word may expand to several (`EXPOSE $PORTS`, as Docker)."""
        out: list[str] = []
        for port in self.ports:
            try:
                out += lex.process_words(port, env)
            except ShellError as err:
                raise self.error(err.message) from None
        return dataclasses.replace(self, ports=out)

    def port_specs(self) -> list[str]:
        """Validated `port/proto` keys for the image config (ranges expanded)."""
        keys: list[str] = []
        for spec in self.ports:
            raw, _, proto = spec.partition("/")
            proto = proto.lower() if proto else "tcp"
            if proto not in ("tcp", "udp", "sctp"):
                raise self.error(f"Invalid proto: {proto}")
            m = _PORT.match(raw)
            if not m:
                raise self.error(f"Invalid containerPort: {raw}")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            if lo > 65535 or hi > 65535:
                raise self.error(f"Invalid containerPort: {raw}")
            if hi < lo:
                raise self.error(f"Invalid containerPort: {raw}")
            keys += [f"{p}/{proto}" for p in range(lo, hi + 1)]
        return keys


@dataclass(slots=True, kw_only=True)
class _SourcesDest(Instruction):
    sources: list[str]
    dest: str
    heredoc_sources: list[HeredocSource] = field(default_factory=list)
    chown: str = ""
    chmod: str = ""
    link: bool = False
    exclude: list[str] = field(default_factory=list)
    from_: str = ""  # COPY --from (a stage name/index or an image); always "" for ADD

    def _expand_common(self, lex: ShellLex, env: Mapping[str, str], **extra: str) -> Self:
        ex = self._expander(lex, env)
        raw = ShellLex("\\", skip_process_quotes=True)
        contents = []
        for src in self.heredoc_sources:
            if src.expand:
                try:
                    data = raw.process_word(src.data, env)
                except ShellError as err:
                    raise self.error(err.message) from None
                src = HeredocSource(src.path, data, True)
            contents.append(src)
        return dataclasses.replace(
            self,
            sources=[ex(s) for s in self.sources],
            dest=ex(self.dest),
            chown=ex(self.chown),
            chmod=ex(self.chmod),
            heredoc_sources=contents,
            **{k: ex(v) for k, v in extra.items()},
        )


@dataclass(slots=True, kw_only=True)
class CopyInstruction(_SourcesDest):
    keyword: ClassVar[str] = "COPY"
    parents: bool = False

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """Sources, dest, --chown, --chmod and heredoc contents (unquoted delimiters)."""
        return self._expand_common(lex, env)


@dataclass(slots=True, kw_only=True)
class AddInstruction(_SourcesDest):
    keyword: ClassVar[str] = "ADD"
    checksum: str = ""
    keep_git_dir: bool | None = None
    unpack: bool | None = None

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """As COPY, plus --checksum."""
        return self._expand_common(lex, env, checksum=self.checksum)


@dataclass(slots=True, kw_only=True)
class VolumeInstruction(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    volumes: list[str]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        ex = self._expander(lex, env)
        return dataclasses.replace(self, volumes=[ex(v) for v in self.volumes])


@dataclass(slots=True, kw_only=True)
class UserInstruction(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str

    @property
    def name(self) -> str:
        return self.user.partition(":")[0]

    @property
    def group(self) -> str | None:
        name, sep, group = self.user.partition(":")
        return group if sep else None

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, user=self._expander(lex, env)(self.user))


@dataclass(slots=True, kw_only=True)
class WorkdirInstruction(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, path=self._expander(lex, env)(self.path))


@dataclass(slots=True, kw_only=True)
class ArgInstruction(Instruction):
    keyword: ClassVar[str] = "ARG"
    args: list[ArgDef]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        ex = self._expander(lex, env)
        return dataclasses.replace(
            self, args=[ArgDef(ex(a.key), ex(a.value) if a.value is not None else None) for a in self.args]
        )


@dataclass(slots=True, kw_only=True)
class OnbuildInstruction(Instruction):
    """`expression` is stored untouched in the image's OnBuild list; `trigger` is the parsed
    inner instruction, or None when it would only fail once triggered (Docker does not check
    it at ONBUILD time; `trigger_error` says why)."""

    keyword: ClassVar[str] = "ONBUILD"
    expression: str
    trigger: Instruction | None = None
    trigger_error: str | None = None


@dataclass(slots=True, kw_only=True)
class StopsignalInstruction(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, signal=self._expander(lex, env)(self.signal))


@dataclass(slots=True, kw_only=True)
class HealthcheckInstruction(Instruction):
    keyword: ClassVar[str] = "HEALTHCHECK"
    health: HealthConfig


INSTRUCTION_KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip


# -- flags ----------------------------------------------------------------------------

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"


def _parse_flags(args: list[str], spec: Mapping[str, str]) -> dict[str, str | bool | list[str]]:
    """Docker's BFlags: `--name=value` strings, `--name[=true|false]` booleans; messages as the
    reference dockerd (20.10 classic builder) words them ("Unknown flag: foo")."""
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
        if name in used and kind != _STRINGS:
            raise DockerfileError(f"Duplicate flag specified: {name}")
        if kind == _BOOL:
            if has_value and value == "":
                raise DockerfileError(f"Missing a value on flag: {name}")
            low = value.lower()
            if low in ("true", ""):
                used[name] = True
            elif low == "false":
                used[name] = False
            else:
                raise DockerfileError(f"Expecting boolean value for flag {name}, not: {value}")
        elif kind == _STRING:
            if not has_value:
                raise DockerfileError(f"Missing a value on flag: {name}")
            used[name] = value
        else:
            if not has_value:
                raise DockerfileError(f"Missing a value on flag: {name}")
            prev = used.setdefault(name, [])
            assert isinstance(prev, list)
            prev.append(value)
    return used


def _s(flags: Mapping[str, object], name: str) -> str:
    v = flags.get(name, "")
    return v if isinstance(v, str) else ""


def _b(flags: Mapping[str, object], name: str) -> bool:
    return flags.get(name) is True


def _l(flags: Mapping[str, object], name: str) -> list[str]:
    v = flags.get(name)
    return list(v) if isinstance(v, list) else []


# -- durations and mounts ---------------------------------------------------------------------

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_MAX_INT64 = (1 << 63) - 1


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration -> nanoseconds; errors as Go words them."""
    quoted = '"' + text + '"'
    s = text
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while s:
        m = _DURATION_PART.match(s)
        assert m is not None
        whole, frac = m.group(1), m.group(2)
        if whole == "" and not frac:
            raise ValueError(f"time: invalid duration {quoted}")
        s = s[m.end() :]
        i = 0
        while i < len(s) and s[i] != "." and not ("0" <= s[i] <= "9"):
            i += 1
        unit = s[:i]
        s = s[i:]
        if unit == "":
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        if total > _MAX_INT64 + (1 if neg else 0):
            raise ValueError(f"time: invalid duration {quoted}")
    return -total if neg else total


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)$", re.IGNORECASE)


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
    m = _SIZE.match(value.strip())
    if not m:
        raise ValueError(value)
    mult = 1024 ** " kmgtp".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * mult)


# -- node -> instruction ---------------------------------------------------------------------

_FROM_FLAGS = {"platform": _STRING}
_COPY_FLAGS = {"chown": _STRING, "from": _STRING, "chmod": _STRING, "link": _BOOL,
               "exclude": _STRINGS, "parents": _BOOL}  # fmt: skip
_ADD_FLAGS = {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "keep-git-dir": _BOOL,
              "checksum": _STRING, "unpack": _BOOL, "exclude": _STRINGS}  # fmt: skip
_RUN_FLAGS = {"mount": _STRINGS, "network": _STRING, "security": _STRING}
_HEALTH_FLAGS = {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                 "start-interval": _STRING, "retries": _STRING}  # fmt: skip
_NO_FLAGS: dict[str, str] = {}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\v\f\r ]*ONBUILD[\t\n\v\f\r ]*", re.IGNORECASE)


def _at_least_one(kw: str) -> DockerfileError:
    return DockerfileError(f"{kw} requires at least one argument")


def _exactly_one(kw: str) -> DockerfileError:
    return DockerfileError(f"{kw} requires exactly one argument")


def instruction_from_node(node: Node, filename: str = "Dockerfile") -> Instruction:
    """Build the typed instruction; errors are DockerfileError("<file>:<line>: <message>")."""
    try:
        return _build(node, filename)
    except DockerfileError as err:
        raise DockerfileError(f"{filename}:{node.start_line}: {err.message}") from None


def _build(node: Node, filename: str) -> Instruction:
    kw = node.keyword.upper()
    builder = _BUILDERS.get(kw)
    if builder is None:
        raise DockerfileError(f"unknown instruction: {kw}")  # upper-cased, as dockerd prints it
    common = {
        "original": go_strip(node.original),
        "line": node.original,
        "heredocs": node.heredocs,
        "start_line": node.start_line,
        "end_line": node.end_line,
        "filename": filename,
    }
    return builder(node, common)


def _kvps(node: Node, kw: str) -> list[KeyValue]:
    args = node.args
    if not args:
        raise _at_least_one(kw)
    if len(args) % 3:
        raise DockerfileError(f"Bad input to {kw}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if args[i] == "":
            raise DockerfileError(f"{kw} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1], args[i + 2] != ""))
    return pairs


def _build_env(node: Node, common: dict) -> Instruction:
    _parse_flags(node.flags, _NO_FLAGS)
    return EnvInstruction(pairs=_kvps(node, "ENV"), **common)


def _build_label(node: Node, common: dict) -> Instruction:
    _parse_flags(node.flags, _NO_FLAGS)
    return LabelInstruction(pairs=_kvps(node, "LABEL"), **common)


def _build_maintainer(node: Node, common: dict) -> Instruction:
    if len(node.args) != 1:
        raise _exactly_one("MAINTAINER")
    _parse_flags(node.flags, _NO_FLAGS)
    return MaintainerInstruction(maintainer=node.args[0], **common)


def _sources_dest(node: Node, kw: str) -> tuple[list[str], str, list[HeredocSource]]:
    *srcs, dest = node.args
    if _heredoc_word(dest) is not None:
        raise DockerfileError(f"{kw} cannot accept a heredoc as a destination")
    by_name = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    contents: list[HeredocSource] = []
    for src in srcs:
        doc = _heredoc_word(src)
        if doc is None:
            paths.append(src)
            continue
        found = by_name.get(doc.name)
        data = found.content if found is not None else ""
        if doc.chomp:
            data = re.sub(r"(?m)^\t+", "", data)
        contents.append(HeredocSource(doc.name, data, doc.expand))
    return paths, dest, contents


def _heredoc_word(word: str) -> Heredoc | None:
    try:
        return parse_heredoc_word(word)
    except ShellError:
        return None


def _build_add(node: Node, common: dict) -> Instruction:
    if len(node.args) < 2:
        raise DockerfileError(
            "ADD requires at least two arguments, but only one was provided. Destination could not be determined"
        )
    f = _parse_flags(node.flags, _ADD_FLAGS)
    srcs, dest, contents = _sources_dest(node, "ADD")
    return AddInstruction(
        sources=srcs, dest=dest, heredoc_sources=contents, chown=_s(f, "chown"), chmod=_s(f, "chmod"),
        link=_b(f, "link"), exclude=_l(f, "exclude"), checksum=_s(f, "checksum"),
        keep_git_dir=f.get("keep-git-dir") if "keep-git-dir" in f else None,  # type: ignore[arg-type]
        unpack=f.get("unpack") if "unpack" in f else None,  # type: ignore[arg-type]
        **common,
    )  # fmt: skip


def _build_copy(node: Node, common: dict) -> Instruction:
    if len(node.args) < 2:
        raise DockerfileError(
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
        )
    f = _parse_flags(node.flags, _COPY_FLAGS)
    srcs, dest, contents = _sources_dest(node, "COPY")
    return CopyInstruction(
        sources=srcs, dest=dest, heredoc_sources=contents, chown=_s(f, "chown"), chmod=_s(f, "chmod"),
        link=_b(f, "link"), exclude=_l(f, "exclude"), from_=_s(f, "from"), parents=_b(f, "parents"),
        **common,
    )  # fmt: skip


def _build_from(node: Node, common: dict) -> Instruction:
    args = node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(
                f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols'
            )
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")
    f = _parse_flags(node.flags, _FROM_FLAGS)
    platform = _s(f, "platform") or None
    return FromInstruction(base=args[0], stage_name=name, platform=platform, **common)


def _build_onbuild(node: Node, common: dict) -> Instruction:
    if not node.args or node.child is None:
        raise _at_least_one("ONBUILD")
    _parse_flags(node.flags, _NO_FLAGS)
    trigger_kw = node.args[0].strip().upper()
    if trigger_kw == "ONBUILD":
        raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_kw in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trigger_kw} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    trigger: Instruction | None = None
    trigger_error: str | None = None
    try:
        trigger = _build(node.child, common["filename"])
    except DockerfileError as err:
        trigger_error = err.message
    return OnbuildInstruction(expression=expression, trigger=trigger, trigger_error=trigger_error, **common)


def _build_workdir(node: Node, common: dict) -> Instruction:
    if len(node.args) != 1:
        raise _exactly_one("WORKDIR")
    _parse_flags(node.flags, _NO_FLAGS)
    return WorkdirInstruction(path=node.args[0], **common)


def _cmdline(node: Node) -> list[str]:
    if not node.args:
        return []
    if node.json:
        return list(node.args)
    return [" ".join(node.args)]


_NETWORKS = ("default", "none", "host")
_SECURITY = ("insecure", "sandbox")


def _build_run(node: Node, common: dict) -> Instruction:
    f = _parse_flags(node.flags, _RUN_FLAGS)
    specs = _l(f, "mount")
    mounts = []
    for spec in specs:
        try:
            mounts.append(parse_mount(spec))
        except ValueError as err:
            raise DockerfileError(str(err)) from None
    network = _s(f, "network") if "network" in f else None
    if network is not None and network not in _NETWORKS:
        raise DockerfileError(f'invalid network mode "{network}"')
    security = _s(f, "security") if "security" in f else None
    if security is not None and security not in _SECURITY:
        raise DockerfileError(f'security "{security}" is not valid')
    return RunInstruction(
        cmd=_cmdline(node), prepend_shell=not node.json, mounts=mounts, mount_specs=specs,
        network=network, security=security, **common,
    )  # fmt: skip


def _build_cmd(node: Node, common: dict) -> Instruction:
    _parse_flags(node.flags, _NO_FLAGS)
    return CmdInstruction(cmd=_cmdline(node), prepend_shell=not node.json, **common)


def _build_entrypoint(node: Node, common: dict) -> Instruction:
    _parse_flags(node.flags, _NO_FLAGS)
    return EntrypointInstruction(cmd=_cmdline(node), prepend_shell=not node.json, **common)


def _interval(flags: Mapping[str, object], name: str) -> int:
    text = _s(flags, name)
    if text == "":
        return 0
    try:
        d = parse_go_duration(text)
    except ValueError as err:
        raise DockerfileError(str(err)) from None
    if d == 0:
        return 0
    if d < 1_000_000:
        raise DockerfileError(f'Interval "{name}" cannot be less than 1ms')
    return d


def _build_healthcheck(node: Node, common: dict) -> Instruction:
    if not node.args:
        raise _at_least_one("HEALTHCHECK")
    typ = node.args[0].upper()
    rest = node.args[1:]
    if typ == "NONE":
        if rest:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        return HealthcheckInstruction(health=HealthConfig(test=["NONE"]), **common)
    f = _parse_flags(node.flags, _HEALTH_FLAGS)
    if typ != "CMD":
        raise DockerfileError(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
    cmd = list(rest) if node.json else ([" ".join(rest)] if rest else [])
    if not cmd:
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *cmd] if node.json else ["CMD-SHELL", *cmd]
    health = HealthConfig(
        test=test,
        interval=_interval(f, "interval"),
        timeout=_interval(f, "timeout"),
        start_period=_interval(f, "start-period"),
        start_interval=_interval(f, "start-interval"),
    )
    retries = _s(f, "retries")
    if retries:
        if not re.fullmatch(r"[+-]?[0-9]+", retries):
            raise DockerfileError(f'strconv.ParseInt: parsing "{retries}": invalid syntax')
        n = int(retries)
        if not -(2**31) <= n < 2**31:
            raise DockerfileError(f'strconv.ParseInt: parsing "{retries}": value out of range')
        if n < 1:
            raise DockerfileError(f"--retries must be at least 1 (not {n})")
        health.retries = n
    return HealthcheckInstruction(health=health, **common)


def _build_expose(node: Node, common: dict) -> Instruction:
    if not node.args:
        raise _at_least_one("EXPOSE")
    _parse_flags(node.flags, _NO_FLAGS)
    return ExposeInstruction(ports=sorted(node.args), **common)


def _build_user(node: Node, common: dict) -> Instruction:
    if len(node.args) != 1:
        raise _exactly_one("USER")
    _parse_flags(node.flags, _NO_FLAGS)
    return UserInstruction(user=node.args[0], **common)


def _build_volume(node: Node, common: dict) -> Instruction:
    if not node.args:
        raise _at_least_one("VOLUME")
    _parse_flags(node.flags, _NO_FLAGS)
    vols = []
    for v in node.args:
        v = go_strip(v)
        if v == "":
            raise DockerfileError("VOLUME specified can not be an empty string")
        vols.append(v)
    return VolumeInstruction(volumes=vols, **common)


def _build_stopsignal(node: Node, common: dict) -> Instruction:
    # Docker does not parse STOPSIGNAL's flags at all (they are ignored).
    if len(node.args) != 1:
        raise _exactly_one("STOPSIGNAL")
    return StopsignalInstruction(signal=node.args[0], **common)


def _build_arg(node: Node, common: dict) -> Instruction:
    if not node.args:
        raise _at_least_one("ARG")
    defs = []
    for word in node.args:
        key, sep, value = word.partition("=")
        if sep and key == "":
            raise DockerfileError("ARG names can not be blank")
        defs.append(ArgDef(key, value if sep else None))
    return ArgInstruction(args=defs, **common)


def _build_shell(node: Node, common: dict) -> Instruction:
    _parse_flags(node.flags, _NO_FLAGS)
    cmd = _cmdline(node)
    if not cmd:
        raise _at_least_one("SHELL")
    if not node.json:
        raise DockerfileError("SHELL requires the arguments to be in JSON form")
    return ShellInstruction(cmd=cmd, prepend_shell=False, **common)


_BUILDERS: dict[str, Callable[[Node, dict], Instruction]] = {
    "ADD": _build_add,
    "ARG": _build_arg,
    "CMD": _build_cmd,
    "COPY": _build_copy,
    "ENTRYPOINT": _build_entrypoint,
    "ENV": _build_env,
    "EXPOSE": _build_expose,
    "FROM": _build_from,
    "HEALTHCHECK": _build_healthcheck,
    "LABEL": _build_label,
    "MAINTAINER": _build_maintainer,
    "ONBUILD": _build_onbuild,
    "RUN": _build_run,
    "SHELL": _build_shell,
    "STOPSIGNAL": _build_stopsignal,
    "USER": _build_user,
    "VOLUME": _build_volume,
    "WORKDIR": _build_workdir,
}
