"""The typed Dockerfile instructions: one dataclass per instruction, and what each expands at
dispatch time.

Follows Docker's `frontend/dockerfile/instructions` (the types; `instruction_parser.py` builds
them from parser nodes). Every instruction keeps `original` (the text Docker prints in
`Step N/M : ...`), `start_line`, `end_line` and, where Docker expands variables at dispatch
time, an `expand(lex, env)` method returning an expanded copy.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.dataclass import dataclass, field, replace
from dockyard.dockerfile.parser import Heredoc
from dockyard.dockerfile.shell import ShellError, ShellLex
from dockyard.errors import DockerfileError

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Self

    from dockyard.dockerfile.mounts import Expander, Mount

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
    "OnbuildInstruction",
    "RunInstruction",
    "ShellInstruction",
    "StopsignalInstruction",
    "UserInstruction",
    "VolumeInstruction",
    "WorkdirInstruction",
    "INSTRUCTION_KEYWORDS",
]


# The instructions' dataclass: keyword-only fields, slots; dockyard.dataclass makes the
# methods (tests/dockerfile/test_instruction_classes.py: as the generated ones).
_instruction = dataclass(slots=True, kw_only=True)


@_instruction
class Instruction:
    """Common fields. `original` is the instruction's logical line (continuations joined)."""

    keyword = ""
    original: str
    heredocs: list[Heredoc] = field(default_factory=list)
    line: str = field(default="", compare=False, repr=False)  # the joined line, unstripped
    start_line: int = field(default=0, compare=False)
    end_line: int = field(default=0, compare=False)
    filename: str = field(default="Dockerfile", compare=False, repr=False)

    def __str__(self) -> str:
        return self.original

    def error(self, message: str, phase: str = "dispatch") -> DockerfileError:
        return DockerfileError.located(self.filename, self.start_line, message, phase)

    def _expander(self, lex: ShellLex, env: Mapping[str, str]) -> Expander:
        def expand(word: str) -> str:
            try:
                return lex.process_word(word, env)
            except ShellError as err:
                raise self.error(err.message) from None

        return expand


@dataclass(slots=True)
class KeyValue:
    """One `key=value` of LABEL or ENV."""

    key: str
    value: str
    delim: bool = True  # False for the old `ENV key value` form


@dataclass(slots=True)
class ArgDef:
    """One name of ARG, with its default."""

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


# -- the instructions -------------------------------------------------------------------


@_instruction
class FromInstruction(Instruction):
    """`FROM [--platform=P] image [AS name]`."""

    keyword = "FROM"
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
        return replace(self, base=base, platform=platform)


@_instruction
class _CommandLine(Instruction):
    """An instruction holding a command: `cmd` as written, shell or exec form."""

    cmd: list[str]
    prepend_shell: bool  # True for shell form: the builder runs SHELL + [cmd[0]]


@_instruction
class RunInstruction(_CommandLine):
    """`RUN [--mount=...] [--network=...] [--security=...] command`."""

    keyword = "RUN"
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
        # Not at the top: RUN --mount's reader is loaded by a Dockerfile that has one
        # (tests/test_start_up.py)
        from dockyard.dockerfile.mounts import parse_mount

        ex = self._expander(lex, env)
        mounts = []
        for spec in self.mount_specs:
            try:
                mounts.append(parse_mount(spec, ex))
            except ValueError as err:
                raise self.error(str(err)) from None
        return replace(self, mounts=mounts)


@_instruction
class CmdInstruction(_CommandLine):
    """`CMD command`."""

    keyword = "CMD"


@_instruction
class EntrypointInstruction(_CommandLine):
    """`ENTRYPOINT command`."""

    keyword = "ENTRYPOINT"


@_instruction
class ShellInstruction(_CommandLine):
    """`SHELL ["executable", "parameters"]`."""

    keyword = "SHELL"


def _expand_pairs(pairs: list[KeyValue], ex: Expander) -> list[KeyValue]:
    return [KeyValue(ex(p.key), ex(p.value), p.delim) for p in pairs]


@_instruction
class LabelInstruction(Instruction):
    """`LABEL key=value...`."""

    keyword = "LABEL"
    pairs: list[KeyValue]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return replace(self, pairs=_expand_pairs(self.pairs, self._expander(lex, env)))


@_instruction
class EnvInstruction(Instruction):
    """`ENV key=value...` (or the old `ENV key value`)."""

    keyword = "ENV"
    pairs: list[KeyValue]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """All pairs see the env as it was before this instruction (as Docker)."""
        return replace(self, pairs=_expand_pairs(self.pairs, self._expander(lex, env)))


@_instruction
class MaintainerInstruction(Instruction):
    """`MAINTAINER name` (deprecated: the image's `author`)."""

    keyword = "MAINTAINER"
    maintainer: str


@_instruction
class ExposeInstruction(Instruction):
    """`EXPOSE port[/proto]...`."""

    keyword = "EXPOSE"
    ports: list[str]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """Each port word may expand to several (`EXPOSE $PORTS`, as Docker)."""
        out: list[str] = []
        for port in self.ports:
            try:
                out += lex.process_words(port, env)
            except ShellError as err:
                raise self.error(err.message) from None
        return replace(self, ports=out)

@_instruction
class _SourcesDest(Instruction):
    """COPY and ADD: sources, heredoc sources, a destination and their flags."""

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
        return replace(
            self,
            sources=[ex(s) for s in self.sources],
            dest=ex(self.dest),
            chown=ex(self.chown),
            chmod=ex(self.chmod),
            heredoc_sources=contents,
            **{k: ex(v) for k, v in extra.items()},
        )


@_instruction
class CopyInstruction(_SourcesDest):
    """`COPY [--from=...] [--chown=...] [--chmod=...] [--link] src... dest`."""

    keyword = "COPY"
    parents: bool = False

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """Sources, dest, --chown, --chmod and heredoc contents (unquoted delimiters)."""
        return self._expand_common(lex, env)


@_instruction
class AddInstruction(_SourcesDest):
    """`ADD [--chown=...] [--chmod=...] [--checksum=...] src... dest`."""

    keyword = "ADD"
    checksum: str = ""
    keep_git_dir: bool | None = None
    unpack: bool | None = None

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        """As COPY, plus --checksum."""
        return self._expand_common(lex, env, checksum=self.checksum)


@_instruction
class VolumeInstruction(Instruction):
    """`VOLUME path...`."""

    keyword = "VOLUME"
    volumes: list[str]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        ex = self._expander(lex, env)
        return replace(self, volumes=[ex(v) for v in self.volumes])


@_instruction
class UserInstruction(Instruction):
    """`USER user[:group]`."""

    keyword = "USER"
    user: str

    @property
    def name(self) -> str:
        return self.user.partition(":")[0]

    @property
    def group(self) -> str | None:
        name, sep, group = self.user.partition(":")
        return group if sep else None

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return replace(self, user=self._expander(lex, env)(self.user))


@_instruction
class WorkdirInstruction(Instruction):
    """`WORKDIR path`."""

    keyword = "WORKDIR"
    path: str

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return replace(self, path=self._expander(lex, env)(self.path))


@_instruction
class ArgInstruction(Instruction):
    """`ARG name[=default]...`."""

    keyword = "ARG"
    args: list[ArgDef]

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        ex = self._expander(lex, env)
        return replace(
            self, args=[ArgDef(ex(a.key), ex(a.value) if a.value is not None else None) for a in self.args]
        )


@_instruction
class OnbuildInstruction(Instruction):
    """`expression` is stored untouched in the image's OnBuild list; `trigger` is the parsed
    inner instruction, or None when it would only fail once triggered (Docker does not check
    it at ONBUILD time; `trigger_error` says why)."""

    keyword = "ONBUILD"
    expression: str
    trigger: Instruction | None = None
    trigger_error: str | None = None


@_instruction
class StopsignalInstruction(Instruction):
    """`STOPSIGNAL signal`."""

    keyword = "STOPSIGNAL"
    signal: str

    def expand(self, lex: ShellLex, env: Mapping[str, str]) -> Self:
        return replace(self, signal=self._expander(lex, env)(self.signal))


@_instruction
class HealthcheckInstruction(Instruction):
    """`HEALTHCHECK [options] CMD command` or `HEALTHCHECK NONE`."""

    keyword = "HEALTHCHECK"
    health: HealthConfig


INSTRUCTION_KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip
