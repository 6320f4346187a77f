"""The image config (Docker image JSON / OCI image config) as typed dataclasses.

`ImageConfig.parse(raw)` keeps every field it does not model in `extra`, so a config read from
elsewhere can be re-serialized without losing data. The bytes an image ID was computed over are
never re-serialized: callers keep the raw bytes next to the parsed form (see `image.Image`).
"""

from __future__ import annotations

import json
import time

from dockyard.dataclass import dataclass, field, replace
from dockyard.digest import Digest
from dockyard.errors import InvalidArchive, InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from datetime import datetime

# The PATH a container gets when its image's config sets none (Docker's system.DefaultPathEnv):
# the builder adds it to a stage's config, the runtime to a process's environment.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's container-config keys that the image config carries, in the order Docker writes them.
_CONTAINER_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped",
    "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild",
    "Labels", "StopSignal", "StopTimeout", "Shell",
)
# The struct's `omitempty` fields; the others are always written, with these zero values for the
# plain strings and booleans (slices and maps are null when unset).
_OMITEMPTY = frozenset({"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled",
                        "MacAddress", "StopSignal", "StopTimeout", "Shell"})
_ZERO: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Image": "",
    "WorkingDir": "",
}


def now_rfc3339() -> str:
    """The current time as Docker writes `created`: RFC 3339 with nanoseconds, UTC, `Z` (to the
    microsecond, as before: the last three digits are 0)."""
    return rfc3339_ns(time.time_ns() // 1000 * 1000)


def rfc3339_ns(ns: int) -> str:
    """A time in nanoseconds since the epoch as Docker writes times (RFC 3339, UTC, `Z`)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    when = time.gmtime(seconds)
    if 1000 <= when.tm_year <= 9999:  # as datetime writes it, without its import (a cold build's start)
        return time.strftime("%Y-%m-%dT%H:%M:%S.", when) + f"{fraction:09d}Z"
    from datetime import datetime, timezone  # its zero-padded year (tests/test_start_up.py)

    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction:09d}Z"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    from datetime import datetime, timezone  # a time read: not a cached build's start

    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    # Python's fromisoformat takes at most 6 fraction digits.
    head, dot, rest = t.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits):]
        t = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    try:
        parsed = datetime.fromisoformat(t)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _object(value: object) -> bool:
    return isinstance(value, dict)


# What each field of an image's container config must be (Go's json.Unmarshal into Docker's
# container.Config would refuse anything else): a hostile config is refused when it is read.
_FIELD_TYPES = {
    "User": lambda v: isinstance(v, str), "ExposedPorts": _object, "Env": _strings,
    "Entrypoint": lambda v: _strings(v) or isinstance(v, str), "Cmd": lambda v: _strings(v) or isinstance(v, str),
    "Healthcheck": _object, "ArgsEscaped": lambda v: isinstance(v, bool), "Volumes": _object,
    "WorkingDir": lambda v: isinstance(v, str),
    "Labels": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "OnBuild": _strings, "StopSignal": lambda v: isinstance(v, str), "Shell": _strings,
}


@dataclass
class ContainerConfig:
    """The `config` section of an image: what a container of the image starts with."""

    user: str = ""
    exposed_ports: dict[str, dict] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: dict[str, Any] | None = None
    args_escaped: bool = False
    volumes: dict[str, dict] | None = None
    working_dir: str = ""
    labels: dict[str, str] | None = None
    on_build: list[str] | None = None
    stop_signal: str = ""
    shell: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _FIELDS = {
        "User": "user", "ExposedPorts": "exposed_ports", "Env": "env", "Entrypoint": "entrypoint",
        "Cmd": "cmd", "Healthcheck": "healthcheck", "ArgsEscaped": "args_escaped",
        "Volumes": "volumes", "WorkingDir": "working_dir", "Labels": "labels",
        "OnBuild": "on_build", "StopSignal": "stop_signal", "Shell": "shell",
    }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ContainerConfig":
        if data is not None and not isinstance(data, dict):
            raise InvalidArchive("image config: config is not a JSON object")
        data = dict(data or {})
        kwargs: dict[str, Any] = {}
        for key, attr in cls._FIELDS.items():
            if key in data:
                value = data.pop(key)
                if value is not None:
                    if not _FIELD_TYPES[key](value):
                        raise InvalidArchive(f"image config: config.{key} has the wrong type")
                    if isinstance(value, str) and key in ("Entrypoint", "Cmd"):
                        value = [value]  # Docker's strslice.StrSlice takes a string as one item
                    kwargs[attr] = value
        return cls(**kwargs, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """Docker 20.10's shape (the JSON of its container.Config struct): every field, null or
        false or "" when unset, except the `omitempty` ones (ExposedPorts, Healthcheck,
        ArgsEscaped, NetworkDisabled, MacAddress, StopSignal, StopTimeout, Shell), which appear
        only when set. Fields it does not model come from `extra`."""
        values = {key: getattr(self, attr) for key, attr in self._FIELDS.items()}
        out: dict[str, Any] = {}
        for key in _CONTAINER_KEYS:
            value = values[key] if key in values else self.extra.get(key, _ZERO.get(key))
            if key == "StopTimeout":     # a Go *int: omitted only when nil (0 is shown)
                if value is not None:
                    out[key] = value
            elif key in _OMITEMPTY:
                if value not in (None, "", False, [], {}, 0):
                    out[key] = value
            else:
                out[key] = _ZERO.get(key) if value is None and key in _ZERO else value
        for key, value in self.extra.items():
            if key not in out and key not in _CONTAINER_KEYS and value is not None:
                out[key] = value
        return out

    def to_docker_api(self) -> dict[str, Any]:
        """The full Docker API shape (`docker inspect` prints every key, null when unset)."""
        base: dict[str, Any] = {
            "Hostname": "", "Domainname": "", "User": self.user, "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
            "StdinOnce": False, "Env": self.env, "Cmd": self.cmd, "Image": "",
            "Volumes": self.volumes, "WorkingDir": self.working_dir,
            "Entrypoint": self.entrypoint, "OnBuild": self.on_build, "Labels": self.labels,
        }
        if self.exposed_ports:
            base["ExposedPorts"] = self.exposed_ports
        if self.healthcheck:
            base["Healthcheck"] = self.healthcheck
        if self.args_escaped:
            base["ArgsEscaped"] = True
        if self.stop_signal:
            base["StopSignal"] = self.stop_signal
        if self.shell:
            base["Shell"] = self.shell
        # what the config itself holds wins over the defaults: Hostname, Attach*, and Image (the
        # parent image's ID in a built image, which `docker inspect` shows as .Config.Image)
        base.update(self.extra)
        return base

    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def with_env(self, key: str, value: str) -> "ContainerConfig":
        env = [e for e in (self.env or []) if e.partition("=")[0] != key]
        # Docker replaces in place when the key exists, else appends.
        existing = [i for i, e in enumerate(self.env or []) if e.partition("=")[0] == key]
        if existing:
            env = list(self.env or [])
            env[existing[0]] = f"{key}={value}"
        else:
            env.append(f"{key}={value}")
        return replace(self, env=env)


def merge_config(own: ContainerConfig, defaults: ContainerConfig) -> ContainerConfig:
    """Docker's merge of a container's config over defaults (moby daemon/commit.go `merge`, used
    by create over the image's config and by commit over the container's): what `own` leaves
    empty comes from `defaults` for these fields only: User, WorkingDir, StopSignal; ExposedPorts,
    Volumes (added to own's); Env and Labels (the names own lacks, after its own; Labels is
    never null); Cmd with ArgsEscaped (when own has neither entrypoint nor command) and
    Entrypoint (when own's is unset, None); Healthcheck (its unset parts). Nothing else: the
    defaults' OnBuild, Shell, Hostname or Image are not taken."""
    out = replace(own, extra=dict(own.extra))
    out.user = own.user or defaults.user
    out.working_dir = own.working_dir or defaults.working_dir
    out.stop_signal = own.stop_signal or defaults.stop_signal
    out.exposed_ports = ({**own.exposed_ports, **(defaults.exposed_ports or {})} if own.exposed_ports
                         else defaults.exposed_ports)
    out.volumes = {**own.volumes, **(defaults.volumes or {})} if own.volumes else defaults.volumes
    if own.env:
        named = {e.partition("=")[0] for e in own.env}
        out.env = list(own.env) + [e for e in defaults.env or [] if e.partition("=")[0] not in named]
    else:
        out.env = defaults.env
    labels = dict(own.labels or {})
    for key, value in (defaults.labels or {}).items():
        labels.setdefault(key, value)
    out.labels = labels
    if not own.entrypoint:
        if not own.cmd:
            out.cmd, out.args_escaped = defaults.cmd, defaults.args_escaped
        if own.entrypoint is None:
            out.entrypoint = defaults.entrypoint
    if defaults.healthcheck:
        if own.healthcheck is None:
            out.healthcheck = defaults.healthcheck
        else:
            out.healthcheck = {**{k: v for k, v in defaults.healthcheck.items()},
                               **{k: v for k, v in own.healthcheck.items() if v}}
    return out


@dataclass
class History:
    """One entry of an image config's `history`."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        for key in ("created", "created_by", "author", "comment"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InvalidArchive(f"image config: a history entry's {key} is not a string")
        return cls(
            created=data.get("created"), created_by=data.get("created_by"),
            author=data.get("author"), comment=data.get("comment"),
            empty_layer=bool(data.get("empty_layer", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("created", "author", "created_by", "comment"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass
class ImageConfig:
    """An image config (the OCI / Docker image JSON), with the fields it does not model kept in `extra`."""

    architecture: str = "amd64"
    os: str = "linux"
    created: str | None = None
    author: str | None = None
    comment: str | None = None
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: list[Digest] = field(default_factory=list)
    history: list[History] = field(default_factory=list)
    variant: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: bytes) -> "ImageConfig":
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidArchive(f"image config is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidArchive("image config is not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImageConfig":
        data = dict(data)
        rootfs = data.pop("rootfs", None) or {}
        if not isinstance(rootfs, dict) or rootfs.get("type", "layers") != "layers":
            raise InvalidArchive("image config has no rootfs of type layers")
        try:
            diff_ids = [Digest.parse(d) for d in rootfs.get("diff_ids") or []]
            history = [History.from_dict(h) for h in data.pop("history", None) or []]
        except (TypeError, AttributeError, InvalidParameter):
            raise InvalidArchive("image config has a malformed rootfs or history") from None
        for key in ("architecture", "os", "created", "author", "comment", "variant"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InvalidArchive(f"image config: {key} is not a string")
        return cls(
            architecture=data.pop("architecture", "") or "",
            os=data.pop("os", "") or "",
            created=data.pop("created", None),
            author=data.pop("author", None),
            comment=data.pop("comment", None),
            config=ContainerConfig.from_dict(data.pop("config", None)),
            diff_ids=diff_ids,
            history=history,
            variant=data.pop("variant", None),
            extra=data,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture}
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        out["config"] = self.config.to_dict()
        if self.created:
            out["created"] = self.created
        out.update({k: v for k, v in self.extra.items() if k not in ("os", "rootfs")})
        out["history"] = [h.to_dict() for h in self.history]
        out["os"] = self.os
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        if self.variant:
            out["variant"] = self.variant
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()
