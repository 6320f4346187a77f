"""The command strings Docker's classic builder records for each step (moby builder/dockerfile
dispatchers.go): the `#(nop)` comment of a metadata step, formatted with Go's fmt verbs, COPY's
from collections.abc import Callable
and RUN's; they end up in `container_config.Cmd` (the cache key) and, joined by spaces, in
history `created_by`.
"""

from __future__ import annotations


from dockyard.builder.gofmt import go_q_list, go_v_list, healthcheck_text
from dockyard.builder.metadata import health_dict, shell_of
from dockyard.dockerfile.args import PROXY_ARGS
from dockyard.dockerfile.instructions import (
    ArgInstruction, CmdInstruction, EntrypointInstruction, EnvInstruction, ExposeInstruction,
    HealthcheckInstruction, Instruction, LabelInstruction, MaintainerInstruction,
    OnbuildInstruction, ShellInstruction, StopsignalInstruction, UserInstruction,
    VolumeInstruction,
)
from dockyard.image.config import ContainerConfig

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any


def nop_cmd(config: ContainerConfig, comment: str) -> list[str]:
    """withCmdComment: a metadata step's Cmd, `[shell..., "#(nop) ", comment]`."""
    return shell_of(config) + ["#(nop) ", comment]


def nop_cmd_string(config: ContainerConfig, comment: str) -> list[str]:
    """withCmdCommentString: COPY/ADD/WORKDIR's Cmd, `[shell..., "#(nop) " + comment]`."""
    return shell_of(config) + ["#(nop) " + comment]


def created_by(cmd: list[str]) -> str:
    return " ".join(cmd)


def _pairs(ins: EnvInstruction | LabelInstruction) -> str:
    return " ".join(f"{p.key}={p.value}" for p in ins.pairs)


# A metadata instruction (expanded) and the run config after it -> the comment Docker commits.
_METADATA_COMMENTS: dict[type[Instruction], Callable[[Any, ContainerConfig], str]] = {
    EnvInstruction: lambda ins, run: "ENV " + _pairs(ins),
    LabelInstruction: lambda ins, run: "LABEL " + _pairs(ins),
    ExposeInstruction: lambda ins, run: "EXPOSE " + " ".join(ins.ports),
    CmdInstruction: lambda ins, run: "CMD " + go_q_list(run.cmd),
    EntrypointInstruction: lambda ins, run: "ENTRYPOINT " + go_q_list(run.entrypoint),
    UserInstruction: lambda ins, run: "USER " + ins.user,
    VolumeInstruction: lambda ins, run: "VOLUME " + go_v_list(ins.volumes),
    StopsignalInstruction: lambda ins, run: "STOPSIGNAL " + ins.signal,
    # the instruction's own values, before the commit merges the inherited ones in (dockerd 20.10)
    HealthcheckInstruction: lambda ins, run: "HEALTHCHECK " + healthcheck_text(health_dict(ins, ContainerConfig())),
    ShellInstruction: lambda ins, run: "SHELL " + go_v_list(ins.cmd),
    MaintainerInstruction: lambda ins, run: "MAINTAINER " + ins.maintainer,
    OnbuildInstruction: lambda ins, run: "ONBUILD " + ins.expression,
}


def metadata_comment(ins: Instruction, run: ContainerConfig) -> str:
    """The comment of a metadata step, `ins` applied (`run` is the config after it)."""
    return _METADATA_COMMENTS[type(ins)](ins, run)


def arg_comment(ins: ArgInstruction) -> str:
    """`ARG NAME=value` (expanded), `ARG NAME` without a default."""
    return "ARG " + " ".join(a.key + (f"={a.value}" if a.value is not None else "") for a in ins.args)


def copy_comment(keyword: str, chown: str, chmod: str, sources_hash: str, dest: str) -> str:
    """`COPY --chown=u:g--chmod=644file:<sum> in /dest ` (Docker's spacing, trailing space kept)."""
    return (f"{keyword} {f'--chown={chown}' if chown else ''}{f'--chmod={chmod}' if chmod else ''}"
            f"{sources_hash} in {dest} ")


def run_cmd(cmd: list[str], build_arg_env: list[str], referenced: set[str]) -> list[str]:
    """RUN's recorded command: with build args in its environment, `|N K=v ... cmd...`, N the
    number shown (a proxy ARG is shown only when the Dockerfile declares it)."""
    if not build_arg_env:
        return list(cmd)
    shown = sorted(a for a in build_arg_env
                   if a.partition("=")[0] in referenced or a.partition("=")[0] not in PROXY_ARGS)
    return [f"|{len(shown)}", *shown, *cmd]
