"""A build stage's run config as its instructions change it, and the variables they see: the
instruction semantics every build mode shares (the classic builder in builder/classic/, a
graph-based BuildKit mode), as moby's dispatchers.go and BuildKit's dockerfile2llb both hold them.

    args.new_stage()
    stage = StageConfig.from_image(base.config, args, lex)   # at FROM
    triggers = stage.take_triggers()        # the base's ONBUILD list, run right after FROM
    ins = stage.expand(ins)                 # the words of an instruction: ENV, then ARGs ENV does
                                            # not shadow (a copy; the parsed instruction stays)
    stage.declare(arg)                      # ARG: expanded, then in scope for what follows
    stage.apply(ins)                        # ENV, LABEL, CMD, ENTRYPOINT, WORKDIR, USER, ...
    stage.run_args(run), stage.run_env()    # RUN: the command line (SHELL, heredocs), its env
    stage.copy_dest(copy.dest)              # COPY/ADD: the destination made absolute (WORKDIR)

Nothing here touches images, layers or containers: what a step records (history, cache keys)
and how it runs belong to the build mode.
"""

from __future__ import annotations

import posixpath

from dockyard.builder.metadata import ConfigState, apply_metadata, command_line, shell_of
from dockyard.dataclass import dataclass, replace
from dockyard.dockerfile.args import BuildArgs
from dockyard.dockerfile.instructions import ArgInstruction, Instruction, RunInstruction
from dockyard.dockerfile.shell import ShellLex
from dockyard.image.config import DEFAULT_PATH, ContainerConfig

__all__ = ["StageConfig"]

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import TypeVar

    I = TypeVar("I", bound=Instruction)


@dataclass
class StageConfig:
    """What a stage's metadata instructions read and change."""

    meta: ConfigState          # the run config, MAINTAINER, whether this stage set a CMD
    args: BuildArgs            # the build's ARGs (the stage's scope since args.new_stage())
    lex: ShellLex              # the Dockerfile's escape character

    @classmethod
    def from_image(cls, config: ContainerConfig, args: BuildArgs, lex: ShellLex) -> "StageConfig":
        """The run config a stage starts with: its base image's, without the container-only
        fields, and with Docker's default PATH when the image has none."""
        run = replace(config, extra=dict(config.extra))
        for key in ("Image", "OpenStdin", "StdinOnce"):
            run.extra.pop(key, None)
        if "PATH" not in run.env_map():
            run = replace(run, env=list(run.env or []) + [DEFAULT_PATH])
        return cls(ConfigState(run), args, lex)

    @property
    def config(self) -> ContainerConfig:
        return self.meta.config

    def take_triggers(self) -> list[str]:
        """The base image's ONBUILD triggers, removed from the config (a child does not inherit
        them); the caller runs each (`parse_trigger`) right after FROM."""
        triggers = list(self.config.on_build or [])
        if triggers:
            self.meta = replace(self.meta, config=replace(self.config, on_build=None))
        return triggers

    # -- variables ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """What an instruction's words are expanded with: the config's ENV, then the declared
        ARGs that ENV does not shadow."""
        return self.args.expansion_env(self.config.env or [])

    def expand(self, ins: I) -> I:
        """The instruction with its words expanded (those Docker expands at dispatch time)."""
        expand = getattr(ins, "expand", None)
        return expand(self.lex, self.env()) if expand is not None else ins

    def declare(self, ins: ArgInstruction) -> ArgInstruction:
        """ARG: its defaults expanded, then its names in scope. Returns the expanded ARG."""
        expanded = self.expand(ins)
        self.args.declare(expanded)
        return expanded

    # -- the run config -----------------------------------------------------------------------
    def apply(self, ins: Instruction) -> None:
        """A metadata instruction (already expanded) applied to the run config."""
        self.meta = apply_metadata(self.meta, ins)

    # -- RUN ----------------------------------------------------------------------------------
    def run_args(self, ins: RunInstruction) -> list[str]:
        """The command a RUN runs: exec form as given; shell form through SHELL, the heredoc
        itself when the line is only `<<EOF`, else the line and its heredocs as one script."""
        if ins.heredocs and ins.prepend_shell:
            line = ins.cmd[0] if ins.cmd else ""
            doc = ins.heredocs[0]
            if len(ins.heredocs) == 1 and line.strip().lstrip("0123456789") in (
                    f"<<{doc.name}", f"<<-{doc.name}", f"<<'{doc.name}'", f'<<"{doc.name}"',
                    f"<<-'{doc.name}'", f'<<-"{doc.name}"'):
                return shell_of(self.config) + [doc.content]
            script = line + "\n" + "".join(d.content + d.name + "\n" for d in ins.heredocs)
            return shell_of(self.config) + [script]
        return command_line(self.config, ins.cmd, ins.prepend_shell)

    def build_arg_env(self) -> list[str]:
        """The declared ARGs (and proxy --build-args) a RUN sees, those ENV does not set."""
        env_keys = set(self.config.env_map())
        return [f"{k}={v}" for k, v in self.args.stage_args().items() if k not in env_keys]

    def run_env(self) -> list[str]:
        """A RUN's environment: the config's ENV, then `build_arg_env()`."""
        return list(self.config.env or []) + self.build_arg_env()

    # -- COPY / ADD ---------------------------------------------------------------------------
    def copy_dest(self, dest: str) -> str:
        """Docker's normalizeDest: relative to WORKDIR, a trailing slash kept."""
        if dest.startswith("/"):
            return dest
        joined = posixpath.join(self.config.working_dir or "/", dest)
        if (dest.endswith("/") or dest in (".", "./")) and not joined.endswith("/"):
            joined += "/"
        return "/" + joined.lstrip("/")
