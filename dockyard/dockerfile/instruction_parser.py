"""Parser nodes -> typed instructions, and `parse_instruction(text)` for one instruction given as
text (an ONBUILD trigger stored in an image, a `commit`/`import --change`, a `--label`).

Follows Docker's `frontend/dockerfile/instructions` parse: argument counts, the flags each
instruction takes, HEALTHCHECK durations, heredoc sources of COPY/ADD, ONBUILD restrictions, and
the error messages ("<file>:<line>: <message>").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dockyard.dockerfile.flags import BOOL, NO_FLAGS, STRING, STRINGS, Flags, parse_flags
from dockyard.dockerfile.instructions import (
    AddInstruction, ArgDef, ArgInstruction, CmdInstruction, CopyInstruction,
    EntrypointInstruction, EnvInstruction, ExposeInstruction, FromInstruction, HealthConfig,
    HealthcheckInstruction, HeredocSource, Instruction, KeyValue, LabelInstruction,
    MaintainerInstruction, OnbuildInstruction, RunInstruction, ShellInstruction,
    StopsignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
)
from dockyard.dockerfile.parser import Heredoc, Node, decode_dockerfile, parse_heredoc_word, parse_nodes
from dockyard.dockerfile.shell import ShellError, go_strip
from dockyard.errors import DockerfileError

__all__ = ["instruction_from_node", "parse_instruction", "parse_instructions", "parse_trigger"]

_FROM_FLAGS = {"platform": STRING}
_COPY_FLAGS = {"chown": STRING, "from": STRING, "chmod": STRING, "link": BOOL,
               "exclude": STRINGS, "parents": BOOL}  # fmt: skip
_ADD_FLAGS = {"chown": STRING, "chmod": STRING, "link": BOOL, "keep-git-dir": BOOL,
              "checksum": STRING, "unpack": BOOL, "exclude": STRINGS}  # fmt: skip
_RUN_FLAGS = {"mount": STRINGS, "network": STRING, "security": STRING}
_HEALTH_FLAGS = {"interval": STRING, "timeout": STRING, "start-period": STRING,
                 "start-interval": STRING, "retries": STRING}  # fmt: skip
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
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
        raise DockerfileError.located(filename, node.start_line, err.message, "instruction") from None


def parse_instructions(text: str, filename: str = "Dockerfile") -> list[Instruction]:
    """Instructions given as text, with no FROM before them: each of the parser's nodes turned
    into its typed instruction (Docker: parser.Parse, then ParseCommand per node). Parser
    directives at the top apply, as in a Dockerfile."""
    result = parse_nodes(decode_dockerfile(text, filename), filename)
    return [instruction_from_node(node, filename) for node in result.nodes]


def parse_instruction(text: str, filename: str = "Dockerfile") -> Instruction:
    """Exactly one instruction given as text (`LABEL "k"="v"`, `ENV A=1`)."""
    found = parse_instructions(text, filename)
    if len(found) != 1:
        raise found[1].error(f"one instruction expected, found {len(found)}")
    return found[0]


def parse_trigger(text: str, filename: str = "ONBUILD") -> Instruction:
    """One ONBUILD trigger as an image stores it, parsed when a child's FROM runs it (Docker's
    dispatchTriggeredOnBuild): a single instruction, and not one that cannot be a trigger."""
    found = parse_instructions(text, filename)
    if len(found) != 1:
        raise DockerfileError("onbuild trigger should be a single expression")
    ins = found[0]
    if ins.keyword == "ONBUILD":
        raise ins.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if ins.keyword in ("FROM", "MAINTAINER"):
        raise ins.error(f"{ins.keyword} isn't allowed as an ONBUILD trigger")
    return ins


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
    parse_flags(node.flags, NO_FLAGS)
    return EnvInstruction(pairs=_kvps(node, "ENV"), **common)


def _build_label(node: Node, common: dict) -> Instruction:
    parse_flags(node.flags, NO_FLAGS)
    return LabelInstruction(pairs=_kvps(node, "LABEL"), **common)


def _build_maintainer(node: Node, common: dict) -> Instruction:
    if len(node.args) != 1:
        raise _exactly_one("MAINTAINER")
    parse_flags(node.flags, NO_FLAGS)
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


def _sources_dest_fields(node: Node, kw: str, spec: dict[str, str]) -> tuple[Flags, dict]:
    """What COPY and ADD share: two arguments at least, the flags, sources, dest and heredocs."""
    if len(node.args) < 2:
        raise DockerfileError(
            f"{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
        )
    f = parse_flags(node.flags, spec)
    srcs, dest, contents = _sources_dest(node, kw)
    return f, {"sources": srcs, "dest": dest, "heredoc_sources": contents, "chown": f.string("chown"),
               "chmod": f.string("chmod"), "link": f.boolean("link"), "exclude": f.strings("exclude")}


def _build_add(node: Node, common: dict) -> Instruction:
    f, fields = _sources_dest_fields(node, "ADD", _ADD_FLAGS)
    return AddInstruction(
        checksum=f.string("checksum"), keep_git_dir=f.optional_boolean("keep-git-dir"),
        unpack=f.optional_boolean("unpack"), **fields, **common,
    )  # fmt: skip


def _build_copy(node: Node, common: dict) -> Instruction:
    f, fields = _sources_dest_fields(node, "COPY", _COPY_FLAGS)
    return CopyInstruction(from_=f.string("from"), parents=f.boolean("parents"), **fields, **common)


def _build_from(node: Node, common: dict) -> Instruction:
    args = node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise DockerfileError(
                f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols'
            )
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")
    f = parse_flags(node.flags, _FROM_FLAGS)
    platform = f.string("platform") or None
    return FromInstruction(base=args[0], stage_name=name, platform=platform, **common)


def _build_onbuild(node: Node, common: dict) -> Instruction:
    if not node.args or node.child is None:
        raise _at_least_one("ONBUILD")
    parse_flags(node.flags, NO_FLAGS)
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
    parse_flags(node.flags, NO_FLAGS)
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
    f = parse_flags(node.flags, _RUN_FLAGS)
    specs = f.strings("mount")
    mounts = []
    if specs:  # not at the top: loaded by a Dockerfile with a RUN --mount (tests/test_start_up.py)
        from dockyard.dockerfile.mounts import parse_mount
    for spec in specs:
        try:
            mounts.append(parse_mount(spec))
        except ValueError as err:
            raise DockerfileError(str(err)) from None
    network = f.optional_string("network")
    if network is not None and network not in _NETWORKS:
        raise DockerfileError(f'invalid network mode "{network}"')
    security = f.optional_string("security")
    if security is not None and security not in _SECURITY:
        raise DockerfileError(f'security "{security}" is not valid')
    return RunInstruction(
        cmd=_cmdline(node), prepend_shell=not node.json, mounts=mounts, mount_specs=specs,
        network=network, security=security, **common,
    )  # fmt: skip


def _build_cmd(node: Node, common: dict) -> Instruction:
    parse_flags(node.flags, NO_FLAGS)
    return CmdInstruction(cmd=_cmdline(node), prepend_shell=not node.json, **common)


def _build_entrypoint(node: Node, common: dict) -> Instruction:
    parse_flags(node.flags, NO_FLAGS)
    return EntrypointInstruction(cmd=_cmdline(node), prepend_shell=not node.json, **common)


def _interval(flags: Flags, name: str) -> int:
    text = flags.string(name)
    if text == "":
        return 0
    # Not at the top: HEALTHCHECK's durations are read by a Dockerfile that has one
    # (tests/test_start_up.py)
    from dockyard.dockerfile.durations import parse_go_duration

    try:
        d = parse_go_duration(text)
    except ValueError as err:
        raise DockerfileError(str(err)) from None
    # zero too: both of dockerd 20.10's builders refuse `--interval=0s` (later frontends take it
    # as the default); an empty value is the default
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
    f = parse_flags(node.flags, _HEALTH_FLAGS)
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
    retries = f.string("retries")
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
    parse_flags(node.flags, NO_FLAGS)
    return ExposeInstruction(ports=sorted(node.args), **common)


def _build_user(node: Node, common: dict) -> Instruction:
    if len(node.args) != 1:
        raise _exactly_one("USER")
    parse_flags(node.flags, NO_FLAGS)
    return UserInstruction(user=node.args[0], **common)


def _build_volume(node: Node, common: dict) -> Instruction:
    if not node.args:
        raise _at_least_one("VOLUME")
    parse_flags(node.flags, NO_FLAGS)
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
    parse_flags(node.flags, NO_FLAGS)
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
