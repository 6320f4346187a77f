"""ARG scoping, as Docker's builder does it (moby builder/dockerfile/buildargs.go).

- ARGs before the first FROM ("meta" ARGs) are usable in FROM lines only; a stage sees one only
  after re-declaring it (`ARG NAME` without a value inherits the meta default).
- `--build-arg` values override defaults; an undeclared `--build-arg` is not visible, except the
  predefined proxy ARGs (HTTP_PROXY, ...) which need no declaration.
- The platform ARGs (TARGETPLATFORM, BUILDARCH, ...) are set in the global scope (FROM lines);
  a stage gets them by declaring `ARG TARGETARCH`.
- In a stage, ENV wins over ARG: `expansion_env(image_env)` lets image variables shadow args.

One `BuildArgs` per build; call `new_stage()` at each FROM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dockyard.dockerfile.instructions import ArgInstruction
from dockyard.dockerfile.shell import ShellLex

__all__ = ["BuildArgs", "PROXY_ARGS", "PLATFORM_ARGS", "platform_args", "env_to_dict"]

PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip
PLATFORM_ARGS = (
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
)  # fmt: skip


def platform_args(build: str, target: str | None = None) -> dict[str, str]:
    """`linux/arm/v7` style platforms -> the eight automatic platform ARGs."""
    out: dict[str, str] = {}
    for prefix, plat in (("BUILD", build), ("TARGET", target or build)):
        parts = plat.split("/")
        os_, arch = parts[0], parts[1] if len(parts) > 1 else ""
        variant = parts[2] if len(parts) > 2 else ""
        out[prefix + "PLATFORM"] = plat
        out[prefix + "OS"] = os_
        out[prefix + "ARCH"] = arch
        out[prefix + "VARIANT"] = variant
    return out


def env_to_dict(env: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    """An image config `Env` list (`K=V`) as a dict (a later K wins)."""
    if isinstance(env, Mapping):
        return dict(env)
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


class BuildArgs:
    """The ARG state of one build (meta ARGs, the current stage's ARGs, --build-arg values)."""

    def __init__(self, options: Mapping[str, str | None] | None = None,
                 platform: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.options: dict[str, str | None] = dict(options or {})
        self.platform: dict[str, str] = dict(platform or {})
        self.meta: dict[str, str | None] = {}
        self.allowed: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    # -- values ------------------------------------------------------------------------

    def _value(self, key: str, scope: Mapping[str, str | None]) -> str | None:
        option = self.options.get(key)
        if option is not None:
            return option
        default = scope.get(key)
        if default is None:
            meta = self.meta.get(key)
            if meta is not None:
                return meta
            if key in self.platform and key in scope:
                return self.platform[key]
            return None
        return default

    def _all(self, scope: Mapping[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in [*scope, *PROXY_ARGS]:
            value = self._value(key, scope)
            if value is not None:
                out[key] = value
        return out

    # -- the global scope -----------------------------------------------------------------

    def add_meta_args(self, meta_args: Iterable[ArgInstruction], lex: ShellLex) -> None:
        """Declare the ARGs before the first FROM; each default may use the ones before it."""
        for ins in meta_args:
            expanded = ins.expand(lex, self.from_env())
            for arg in expanded.args:
                self.meta[arg.key] = arg.value
                self.referenced.add(arg.key)

    def from_env(self) -> dict[str, str]:
        """The variables a FROM line (image and --platform) is expanded with."""
        env = dict(self.platform)
        env.update(self._all(self.meta))
        return env

    # -- a stage --------------------------------------------------------------------------

    def new_stage(self) -> None:
        """At each FROM: the stage starts with no ARGs declared."""
        self.allowed = {}

    def declare(self, ins: ArgInstruction) -> None:
        """A stage's ARG (already expanded with `expansion_env`)."""
        for arg in ins.args:
            self.allowed[arg.key] = arg.value
            self.referenced.add(arg.key)

    def stage_args(self) -> dict[str, str]:
        """Declared ARGs with a value, plus the proxy ARGs given with --build-arg."""
        return self._all(self.allowed)

    def expansion_env(self, image_env: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
        """Variables for expanding an instruction: image ENV, then ARGs ENV does not shadow."""
        env = env_to_dict(image_env)
        for key, value in self.stage_args().items():
            env.setdefault(key, value)
        return env

    def unused(self) -> list[str]:
        """--build-arg names never declared (Docker warns "were not consumed")."""
        return sorted(k for k in self.options if k not in self.referenced and k not in PROXY_ARGS)
