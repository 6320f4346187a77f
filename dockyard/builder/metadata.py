"""What metadata instructions do to an image config, as Docker's classic builder does it
(moby builder/dockerfile/dispatchers.go). Shared by `build` and by `commit`/`import -c`.

Instructions reach here already expanded (`instruction.expand(lex, env)`).
"""

from __future__ import annotations

import posixpath

from dockyard.dataclass import dataclass, replace
from dockyard.dockerfile.instructions import (
    CmdInstruction, EntrypointInstruction, EnvInstruction, ExposeInstruction,
    HealthcheckInstruction, Instruction, LabelInstruction, MaintainerInstruction,
    OnbuildInstruction, ShellInstruction, StopsignalInstruction, UserInstruction,
    VolumeInstruction, WorkdirInstruction,
)
from dockyard.errors import DockerfileError, InvalidParameter
from dockyard.image.config import ContainerConfig

DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class ConfigState:
    """The run config a stage builds up, with MAINTAINER and whether it set a CMD."""

    config: ContainerConfig
    author: str | None = None
    cmd_set: bool = False  # a CMD was given in this stage (an ENTRYPOINT then keeps it)


def shell_of(config: ContainerConfig) -> list[str]:
    return list(config.shell) if config.shell else list(DEFAULT_SHELL)


def command_line(config: ContainerConfig, cmd: list[str], prepend_shell: bool) -> list[str]:
    """Shell form runs through the SHELL (default `/bin/sh -c`) with the text as one argument;
    an instruction with no text at all is the SHELL alone (dockerd 20.10: `CMD` alone sets
    ["/bin/sh", "-c"], `RUN` alone runs `/bin/sh -c`, which fails)."""
    if prepend_shell:
        return shell_of(config) + ([" ".join(cmd)] if cmd else [])
    return list(cmd)


def expose_ports(ports: list[str]) -> list[str]:
    """`80`, `80/udp`, `8000-8002/tcp` -> Docker's `port/proto` keys (ranges expanded), read as
    dockerd 20.10 reads them (go-connections nat.ParsePortSpec): a port is strconv.ParseUint's
    (ASCII digits, no sign, up to 65535), a range's end not below its start, and any of that
    wrong is "Invalid containerPort". A host part (`8080:80`, which dockerd takes and drops)
    is refused: EXPOSE declares the container's ports, `run -p` publishes them."""
    out: list[str] = []
    for spec in ports:
        port, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidParameter(f"Invalid proto: {proto}")
        if ":" in port:
            raise InvalidParameter(f"Invalid containerPort: {port} (EXPOSE takes no host port: "
                                   "publish with run -p)")
        parts = port.split("-")
        low, high = parts[0], parts[1] if len(parts) > 1 else parts[0]   # Go: a third part is ignored
        if not (low.isascii() and low.isdigit() and high.isascii() and high.isdigit()) \
                or int(low) > 65535 or int(high) > 65535 or int(high) < int(low):
            raise InvalidParameter(f"Invalid containerPort: {port}")
        out.extend(f"{p}/{proto}" for p in range(int(low), int(high) + 1))
    return out


def check_signal(text: str) -> None:
    name = text.upper()
    if name.isdigit():
        if 0 < int(name) < 65:
            return
    else:
        import signal  # STOPSIGNAL only: its enum of signals costs a build's start (tests/test_start_up.py)

        short = name[3:] if name.startswith("SIG") else name
        if hasattr(signal, "SIG" + short) or short.startswith("RTMIN") or short.startswith("RTMAX"):
            return
    raise InvalidParameter(f"Invalid signal: {text}")


def apply_metadata(state: ConfigState, ins: Instruction) -> ConfigState:
    """Return the state after one metadata instruction."""
    cfg = state.config
    if isinstance(ins, EnvInstruction):
        for pair in ins.pairs:
            if not pair.key:
                raise ins.error("ENV names can not be blank")
            cfg = cfg.with_env(pair.key, pair.value)
    elif isinstance(ins, LabelInstruction):
        labels = dict(cfg.labels or {})
        for pair in ins.pairs:
            if not pair.key:
                raise ins.error("LABEL names can not be blank")
            labels[pair.key] = pair.value
        cfg = replace(cfg, labels=labels)
    elif isinstance(ins, MaintainerInstruction):
        return replace(state, author=ins.maintainer)
    elif isinstance(ins, ExposeInstruction):
        exposed = dict(cfg.exposed_ports or {})
        for port in expose_ports(ins.ports):
            exposed[port] = {}
        cfg = replace(cfg, exposed_ports=exposed)
    elif isinstance(ins, CmdInstruction):
        cfg = replace(cfg, cmd=command_line(cfg, ins.cmd, ins.prepend_shell))
        return replace(state, config=cfg, cmd_set=True)
    elif isinstance(ins, EntrypointInstruction):
        # none given, in either form, is none (dockerd: `ENTRYPOINT` alone as `ENTRYPOINT []`)
        entrypoint = command_line(cfg, ins.cmd, ins.prepend_shell) if ins.cmd else None
        # An ENTRYPOINT resets the CMD inherited from the base, unless this stage set one.
        cfg = replace(cfg, entrypoint=entrypoint, cmd=cfg.cmd if state.cmd_set else None)
    elif isinstance(ins, ShellInstruction):
        if not ins.cmd:
            raise ins.error("SHELL requires at least one argument")
        cfg = replace(cfg, shell=list(ins.cmd))
    elif isinstance(ins, UserInstruction):
        cfg = replace(cfg, user=ins.user)
    elif isinstance(ins, WorkdirInstruction):
        path = ins.path
        if not path:
            raise ins.error("WORKDIR requires exactly one argument")
        if not path.startswith("/"):
            path = posixpath.join(cfg.working_dir or "/", path)
        cfg = replace(cfg, working_dir=posixpath.normpath(path) if path != "/" else "/")
    elif isinstance(ins, VolumeInstruction):
        volumes = dict(cfg.volumes or {})
        for volume in ins.volumes:
            if not volume.strip():
                raise ins.error("VOLUME specified can not be an empty string")
            volumes[volume] = {}
        cfg = replace(cfg, volumes=volumes)
    elif isinstance(ins, StopsignalInstruction):
        try:
            check_signal(ins.signal)
        except InvalidParameter as exc:
            raise ins.error(str(exc)) from None
        cfg = replace(cfg, stop_signal=ins.signal)
    elif isinstance(ins, HealthcheckInstruction):
        cfg = replace(cfg, healthcheck=health_dict(ins, cfg))
    elif isinstance(ins, OnbuildInstruction):
        cfg = replace(cfg, on_build=list(cfg.on_build or []) + [ins.expression.strip()])
    else:
        raise DockerfileError(f"{ins.keyword} is not a metadata instruction")
    return replace(state, config=cfg)


def health_dict(ins: HealthcheckInstruction, cfg: ContainerConfig) -> dict:
    health = ins.health
    out: dict = {"Test": list(health.test)}
    old = cfg.healthcheck or {}
    # Durations of 0 inherit from the base image's healthcheck, as Docker's commit merges them
    # (`HEALTHCHECK NONE` too: dockerd 20.10 keeps the inherited interval, timeout... with it).
    for key, value in (("Interval", health.interval), ("Timeout", health.timeout),
                       ("StartPeriod", health.start_period),
                       ("StartInterval", health.start_interval), ("Retries", health.retries)):
        value = value or old.get(key, 0)
        if value:
            out[key] = value
    return out
