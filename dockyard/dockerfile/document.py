"""A whole Dockerfile: directives, meta ARGs and stages; `parse` and `format_dockerfile`."""

from __future__ import annotations

import os

from dockyard.dataclass import dataclass, field
from dockyard.dockerfile.instruction_parser import instruction_from_node
from dockyard.dockerfile.instructions import ArgInstruction, FromInstruction, Instruction, OnbuildInstruction
from dockyard.dockerfile.parser import MAX_FILE_BYTES, decode_dockerfile, parse_nodes
from dockyard.dockerfile.shell import ShellLex
from dockyard.errors import DockerfileError

__all__ = ["Dockerfile", "Stage", "format_dockerfile", "format_warnings", "parse", "parse_file"]


@dataclass(slots=True)
class Stage:
    """One `FROM ... [AS name]` and the instructions up to the next FROM."""

    name: str | None  # lower-cased, as Docker compares stage names
    base: str  # unexpanded image text
    platform: str | None  # unexpanded --platform value
    index: int
    from_instruction: FromInstruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass(slots=True)
class Dockerfile:
    """A parsed Dockerfile: its directives, meta ARGs (before the first FROM) and stages."""

    directives: dict[str, str]
    escape: str
    meta_args: list[ArgInstruction]
    stages: list[Stage]
    filename: str = field(default="Dockerfile", compare=False)
    warnings: list[str] = field(default_factory=list, compare=False)

    def lex(self) -> ShellLex:
        """The lexer for this file's escape character."""
        return ShellLex(self.escape)

    def stage(self, ref: str | int) -> Stage:
        """A stage by name (case-insensitive) or index, as `COPY --from` / `--target` use."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdecimal()):
            idx = int(ref)
            if 0 <= idx < len(self.stages):
                return self.stages[idx]
        else:
            for st in self.stages:
                if st.name is not None and st.name == ref.lower():
                    return st
        raise KeyError(ref)

    def instructions(self) -> list[Instruction]:
        """All instructions in file order (meta ARGs, then each FROM and its body)."""
        out: list[Instruction] = list(self.meta_args)
        for st in self.stages:
            out.append(st.from_instruction)
            out += st.instructions
        out.sort(key=lambda i: i.start_line)
        return out

    def __str__(self) -> str:
        return format_dockerfile(self)


def parse(data: bytes | str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text. Raises DockerfileError("<filename>:<line>: <message>")."""
    text = decode_dockerfile(data, filename)
    result = parse_nodes(text, filename)
    instructions = [instruction_from_node(n, filename) for n in result.nodes]
    meta: list[ArgInstruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if isinstance(ins, FromInstruction):
            stages.append(
                Stage(
                    name=ins.stage_name,
                    base=ins.base,
                    platform=ins.platform,
                    index=len(stages),
                    from_instruction=ins,
                )
            )
        elif not stages:
            if isinstance(ins, ArgInstruction):
                meta.append(ins)
            else:
                raise ins.error("no build stage in current context", "document")
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError.located(filename, result.line_count, "dockerfile contains no stages to build",
                                      "document")
    return Dockerfile(
        directives=result.directives,
        escape=result.escape,
        meta_args=meta,
        stages=stages,
        filename=filename,
        warnings=result.warnings,
    )


def format_warnings(warnings: list[str]) -> str:
    """The text dockerd prints on the build output for parser warnings (empty string if none)."""
    if not warnings:
        return ""
    lines = [f"[WARNING]: {w}\n" for w in warnings]
    lines.append("[WARNING]: Empty continuation lines will become errors in a future release.\n")
    return "".join(lines)


def parse_file(path: str | os.PathLike[str], filename: str | None = None) -> Dockerfile:
    """Read and parse a Dockerfile from disk, refusing (before reading) one too large to be one."""
    name = filename if filename is not None else os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise DockerfileError(
                    f"{name}: file is too large to be a Dockerfile ({size} bytes, limit {MAX_FILE_BYTES})"
                )
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise DockerfileError(f"{name}: cannot read: {err.strerror or err}") from None
    return parse(data, name)


def _emit(ins: Instruction, out: list[str]) -> None:
    out.append(ins.line or ins.original)
    out.append("\n")
    docs = ins.heredocs
    if isinstance(ins, OnbuildInstruction) and not docs and ins.trigger is not None:
        docs = ins.trigger.heredocs
    for doc in docs:
        out.append(doc.content)
        out.append(doc.name)
        out.append("\n")


def format_dockerfile(df: Dockerfile) -> str:
    """Print a Dockerfile back: `parse(format_dockerfile(parse(x))) == parse(x)`.

    Directives first, then each instruction's logical line (continuations joined, comments
    dropped) followed by its heredoc bodies and terminators.
    """
    out: list[str] = [f"# {k}={v}\n" for k, v in df.directives.items()]
    for ins in df.instructions():
        _emit(ins, out)
    return "".join(out)

