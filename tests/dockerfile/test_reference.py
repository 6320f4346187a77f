"""Behaviour checked against the reference dockerd (Debian docker.io 20.10.24, classic builder,
`DOCKER_BUILDKIT=0 docker build`): the `Step N/M : ...` texts it printed and the image config
it produced for tests/data/dockerfile/reference/expansion.Dockerfile, reproduced here by
walking the parsed file the way the builder will (expand each instruction with image ENV + ARGs).
"""

from __future__ import annotations

from pathlib import Path

from dockyard.builder.metadata import expose_ports
from dockyard.dockerfile import parse
from dockyard.dockerfile.args import BuildArgs
from dockyard.dockerfile.instructions import (
    ArgInstruction,
    CmdInstruction,
    EnvInstruction,
    ExposeInstruction,
    HealthcheckInstruction,
    LabelInstruction,
    OnbuildInstruction,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
    WorkdirInstruction,
)

DOCKERFILE = Path(__file__).parent.parent / "data" / "dockerfile" / "reference" / "expansion.Dockerfile"

# What dockerd printed, in order.
STEPS = [
    "FROM scratch",
    "ENV abc=hello",
    "ENV abc=bye def=$abc",
    "ENV old form with   spaces $abc",
    "ENV q=\"a b\" r='c $abc' s=x\\ y",
    'LABEL "k $abc"="v ${def}" plain=1',
    "LABEL oldlabel  some   value",
    "WORKDIR /w/${def:-x}/$undefined",
    'ARG P="80 443/udp"',
    "EXPOSE $P 9000-9001",
    "USER ${abc}:${def}",
    "ENV sig=KILL",
    "STOPSIGNAL SIG$sig",
    'VOLUME ["/v/$abc"]',
    "CMD echo $abc   done",
    "ONBUILD ENV x=$abc",
    "HEALTHCHECK --interval=1h2m3.5s --timeout=1.5ms CMD true",
]


def test_step_texts_match_dockerd() -> None:
    df = parse(DOCKERFILE.read_bytes())
    assert [i.original for i in df.instructions()] == STEPS


def test_config_matches_dockerd() -> None:
    df = parse(DOCKERFILE.read_bytes())
    lex = df.lex()
    args = BuildArgs()
    args.new_stage()
    env: dict[str, str] = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    config: dict[str, object] = {"Labels": {}, "ExposedPorts": set(), "Volumes": set(), "OnBuild": []}
    for ins in df.stages[0].instructions:
        scope = args.expansion_env(env)
        if isinstance(ins, EnvInstruction):
            for p in ins.expand(lex, scope).pairs:
                env[p.key] = p.value
        elif isinstance(ins, ArgInstruction):
            args.declare(ins.expand(lex, scope))
        elif isinstance(ins, LabelInstruction):
            config["Labels"].update({p.key: p.value for p in ins.expand(lex, scope).pairs})  # type: ignore[union-attr]
        elif isinstance(ins, WorkdirInstruction):
            config["WorkingDir"] = ins.expand(lex, scope).path
        elif isinstance(ins, ExposeInstruction):
            config["ExposedPorts"].update(expose_ports(ins.expand(lex, scope).ports))  # type: ignore[union-attr]
        elif isinstance(ins, UserInstruction):
            config["User"] = ins.expand(lex, scope).user
        elif isinstance(ins, StopsignalInstruction):
            config["StopSignal"] = ins.expand(lex, scope).signal
        elif isinstance(ins, VolumeInstruction):
            config["Volumes"].update(ins.expand(lex, scope).volumes)  # type: ignore[union-attr]
        elif isinstance(ins, CmdInstruction):
            config["Cmd"] = ["/bin/sh", "-c", *ins.cmd] if ins.prepend_shell else ins.cmd
        elif isinstance(ins, OnbuildInstruction):
            config["OnBuild"].append(ins.expression)  # type: ignore[union-attr]
        elif isinstance(ins, HealthcheckInstruction):
            config["Healthcheck"] = ins.health
    assert env == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "abc": "bye", "def": "hello", "old": "form with   spaces bye", "q": "a b",
        "r": "c $abc", "s": "x y", "sig": "KILL",
    }  # fmt: skip
    assert config["User"] == "bye:hello"
    assert config["ExposedPorts"] == {"443/udp", "80/tcp", "9000/tcp", "9001/tcp"}
    assert config["Cmd"] == ["/bin/sh", "-c", "echo $abc   done"]
    assert config["Volumes"] == {"/v/bye"}
    # an absolute WORKDIR is stored as given (no cleaning): "/w/hello/"
    assert config["WorkingDir"] == "/w/hello/"
    assert config["Labels"] == {"k bye": "v hello", "oldlabel": "some   value", "plain": "1"}
    assert config["StopSignal"] == "SIGKILL"
    health = config["Healthcheck"]
    assert (health.test, health.interval, health.timeout) == (["CMD-SHELL", "true"], 3723500000000, 1500000)  # type: ignore[union-attr]
    assert config["OnBuild"] == ["ENV x=$abc"]
