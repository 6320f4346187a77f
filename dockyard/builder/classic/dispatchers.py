"""The classic builder's handlers: one per Dockerfile instruction, found by the instruction's type
in HANDLERS (moby builder/dockerfile/dispatchers.go).

A handler takes the build (state.ClassicBuild), the stage (state.StageState) and the parsed
instruction. What the instruction means comes from the shared semantics (builder/stage.py:
expansion, ARG scope, the run config, RUN's command line and environment, COPY's destination;
builder/copy/: COPY/ADD sources, their checksum and the copy). What is the classic builder's own is here: the
string each step records (history.py), the probe of the image-chain cache with the config it
would commit, and on a miss the work and the commit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import ExitStack, closing

from dockyard.builder.classic.history import (
    arg_comment, copy_comment, metadata_comment, nop_cmd, nop_cmd_string, run_cmd,
)
from dockyard.builder.classic.state import ClassicBuild, StageState, stage_index
from dockyard.builder.copy.checksum import checksum, sources_hash
from dockyard.builder.copy.match import Source, collect_sources
from dockyard.builder.copy.sources import TempDirs, instruction_sources
from dockyard.builder.options import check_platform
from dockyard.dataclass import replace
from dockyard.dockerfile import Stage, parse_trigger
from dockyard.dockerfile.instructions import (
    AddInstruction, ArgInstruction, CmdInstruction, CopyInstruction, EntrypointInstruction,
    EnvInstruction, ExposeInstruction, HealthcheckInstruction, Instruction, LabelInstruction,
    MaintainerInstruction, OnbuildInstruction, RunInstruction, ShellInstruction,
    StopsignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
)
from dockyard.errors import BuildFailed, DockyardError, InvalidParameter, RuntimeFailure

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

    Handler = Callable[[ClassicBuild, StageState, Any], None]

__all__ = ["HANDLERS", "dispatch", "dispatch_from"]


def dispatch(b: ClassicBuild, state: StageState, ins: Instruction) -> None:
    """Run one instruction of the stage through its handler."""
    handler = HANDLERS.get(type(ins))
    if handler is None:
        raise ins.error(f"unknown instruction: {ins.keyword}")
    handler(b, state, ins)


# --------------------------------------------------------------------------- FROM


def dispatch_from(b: ClassicBuild, stage: Stage) -> StageState:
    """FROM: the stage's base (an earlier stage, scratch or an image), then its ONBUILD triggers."""
    ins = stage.from_instruction.expand(b.dockerfile.lex(), b.args.from_env())
    if ins.platform:  # (dockerd 20.10 builds from its local image of this machine's platform, silently)
        check_platform(ins.platform, f"FROM --platform={ins.platform}: ")
    base = ins.base
    ref = b.stage_ref(base, stage.index, by_index=False)
    if ref is not None:
        image_id = b.stage_images.get(ref)
    elif base.lower() == "scratch":
        image_id = None
    else:
        image_id = b.resolve_image(base)
    state = b.base_state(stage.name, image_id)
    if ref is not None:
        state.changed_at = b.stage_changed.get(ref)
    triggers = state.stage.take_triggers()
    if triggers:
        b.out.line(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        for text in triggers:
            dispatch(b, state, parse_trigger(text))   # its errors as they are (messages.py)
    return state


# --------------------------------------------------------------------------- metadata


def commit_nop(b: ClassicBuild, state: StageState, comment: str) -> None:
    """A metadata step: probe, else commit the run config with an empty layer (Docker creates
    and removes a container for it: the same lines are printed)."""
    probe = replace(state.run, cmd=nop_cmd(state.run, comment))
    if b.probe(state, probe):
        return
    container_id = _container_lines(b)
    b.commit(state, probe, None, container_id, config_container=True)


def _container_lines(b: ClassicBuild) -> str:
    """The container Docker creates (and removes) for a step that runs nothing here."""
    container_id = os.urandom(32).hex()  # secrets.token_hex(32), without secrets' hmac and OpenSSL
    b.out.line(f" ---> Running in {container_id[:12]}")
    if b.options.rm or b.options.force_rm:
        b.out.line(f"Removing intermediate container {container_id[:12]}")
    return container_id


def dispatch_arg(b: ClassicBuild, state: StageState, ins: ArgInstruction) -> None:
    commit_nop(b, state, arg_comment(state.stage.declare(ins)))


def dispatch_metadata(b: ClassicBuild, state: StageState, ins: Instruction) -> None:
    """ENV, LABEL, CMD, ENTRYPOINT, EXPOSE, USER, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL,
    MAINTAINER: the run config changes, the image gets an empty layer."""
    ins = state.stage.expand(ins)
    previous = (state.run.healthcheck or {}).get("Test") or []
    if isinstance(ins, HealthcheckInstruction) and previous and previous[0] != "NONE":
        b.out.line(f"Note: overriding previous HEALTHCHECK: [{' '.join(previous)}]")
    state.stage.apply(ins)
    commit_nop(b, state, metadata_comment(ins, state.run))


# --------------------------------------------------------------------------- WORKDIR


def dispatch_workdir(b: ClassicBuild, state: StageState, ins: WorkdirInstruction) -> None:
    """WORKDIR: the run config, and a layer with the directory when the image lacks it."""
    state.stage.apply(state.stage.expand(ins))
    workdir = state.run.working_dir
    probe = replace(state.run, cmd=nop_cmd_string(state.run, "WORKDIR " + workdir))
    if b.probe(state, probe):
        return
    container_id = _container_lines(b)
    # A cache miss only: the image's files (a mount) and the layer writer. Every lazy import of
    # this module keeps a cached build to the in-process budget (tests/test_start_up.py).
    from dockyard.builder.copy.layer import write_dirs_layer
    from dockyard.builder.rootfs import image_root
    from dockyard.store.layer_writer import write_layer

    with image_root(b.store, state.diff_ids) as root:
        layer = write_layer(b.store.layers, lambda out: write_dirs_layer(out, root, workdir), publish=False)
    b.commit(state, probe, layer, container_id, config_container=True)


# --------------------------------------------------------------------------- COPY / ADD


def _requires_buildkit(flag: str) -> InvalidParameter:
    """Docker 20.10's classic builder refuses the flags only BuildKit has (COPY --chmod, RUN
    --mount, RUN --security), with this message and no line number."""
    return InvalidParameter(f"the {flag} option requires BuildKit. Refer to "
                            "https://docs.docker.com/go/buildkit/ to learn how to build images "
                            "with BuildKit enabled")


def dispatch_copy(b: ClassicBuild, state: StageState, ins: CopyInstruction | AddInstruction) -> None:
    if ins.chmod:
        raise _requires_buildkit("--chmod")
    ins = state.stage.expand(ins)
    kw = ins.keyword
    is_add = isinstance(ins, AddInstruction)
    temp = TempDirs()
    try:
        with ExitStack() as stack:
            sources = _sources(b, ins, temp, stack)
            sums = b.file_sums()
            for s in sources:
                if not s.hash:
                    s.hash = checksum(s, sums)
            comment = copy_comment(kw, ins.chown, ins.chmod, sources_hash(sources), ins.dest)
            probe = replace(state.run, cmd=nop_cmd_string(state.run, comment))
            listed: list[dict | None] = []

            def file_list() -> dict | None:  # the sources' files, made once, on a miss
                if not listed:
                    from dockyard.builder.copy.manifest import source_manifest

                    listed.append(source_manifest(sources, sums))
                return listed[0]

            if b.probe(state, probe, file_list):
                if sums is not None:
                    sums.save()
                return
            # A cache miss only: the image's files (a mount) and the layer writer
            from dockyard.builder.copy.entries import CopyPlan
            from dockyard.builder.copy.layer import CopyTree, write_copy_layer
            from dockyard.builder.rootfs import image_root
            from dockyard.builder.users import chown_ids
            from dockyard.store.layer_writer import write_layer

            with image_root(b.store, state.diff_ids) as root:
                plan = CopyPlan(state.stage.copy_dest(ins.dest), extract_archives=is_add, classic_owners=True)
                if ins.chown:
                    plan.uid, plan.gid = chown_ids(root, ins.chown)
                    plan.chowned = True
                digests: dict[str, str] = {}
                tree = stack.enter_context(closing(CopyTree(b.store.layers, sums, kw, plan.dest, sources,
                                                              b.tree_read_later)))
                layer = write_layer(b.store.layers,
                                    lambda out: write_copy_layer(out, sources, plan, root, kw, sums, digests, tree.tree,
                                                                  tree.members), publish=False)
            tree.publish(layer, digests)
            files = file_list()
            if sums is not None:
                sums.save()
        b.commit(state, probe, layer,
                 step_sources=None if files is None else json.dumps(files, separators=(",", ":")).encode())
    finally:
        temp.cleanup()


def _sources(b: ClassicBuild, ins: CopyInstruction | AddInstruction, temp: TempDirs,
             stack: ExitStack) -> list[Source]:
    """The sources; `stack` keeps the filesystem of a `--from` image mounted meanwhile."""
    from_ = getattr(ins, "from_", "")
    if not from_:
        # dockerd 20.10 writes an empty line after each download
        return instruction_sources(ins, b.context, b.store.tmp, temp, lambda: b.out.line(""))
    if b.stage_ref(from_, b.current_stage + 1) == b.current_stage:
        raise InvalidParameter(f"invalid from flag value {from_}: refers to current build stage")
    ref = b.stage_ref(from_, b.current_stage)
    if ref is not None:
        if ref not in b.stage_images:
            raise InvalidParameter(f"invalid from flag value {from_}: stage {from_} was not built "
                                   "(it is needed only by an ONBUILD trigger)")
        image_id = b.stage_images[ref]
    elif stage_index(from_) is not None:   # a later stage's or none's (dockerd: no image)
        raise InvalidParameter(f"invalid from flag value {from_}: index out of bounds")
    else:
        try:
            image_id = b.resolve_image(from_)
        except DockyardError as exc:
            raise InvalidParameter(f"invalid from flag value {from_}: {exc}") from None
    diff_ids = [] if image_id is None else b.store.image(image_id).config.diff_ids
    from dockyard.builder.rootfs import image_root  # a mount: not on a cached path

    root = stack.enter_context(image_root(b.store, diff_ids))
    return collect_sources(root, ins.sources, None, ins.keyword, in_context=False)


# --------------------------------------------------------------------------- RUN


def dispatch_run(b: ClassicBuild, state: StageState, ins: RunInstruction) -> None:
    for flag, used in (("--mount", ins.mount_specs), ("--security", ins.security)):
        if used:
            raise _requires_buildkit(flag)
    ins = state.stage.expand(ins)
    cmd = state.stage.run_args(ins)
    recorded = run_cmd(cmd, state.stage.build_arg_env(), b.args.referenced)
    probe = replace(state.run, cmd=recorded, entrypoint=None if recorded else state.run.entrypoint)
    if b.probe(state, probe):
        return
    b.hold_writes()  # until its container runs (b.write_behind)
    # A cache miss only: RUN's container (the runtime)
    from dockyard.builder.run import RunSpec, run_step

    network = ins.network or b.options.network
    spec = RunSpec(args=cmd, env=state.stage.run_env(), user=state.run.user,
                   workdir=state.run.working_dir, volumes=list((state.run.volumes or {}).keys()),
                   network="host" if network == "default" else network, host=b.options.run_host)
    keep = not (b.options.rm or b.options.force_rm)
    if keep or spec.joins:
        b.settle()  # a container of the store's: its image is read from the store
    try:
        result = run_step(b.store, state.image_id, state.diff_ids, spec, b.out.raw,
                          lambda cid: b.out.line(f" ---> Running in {cid[:12]}"), keep=keep,
                          image_config=state.image_config.config, running=b.write_behind,
                          links=b.links if b.lease is not None else None)
    except DockyardError as exc:
        # A step container that cannot start (an unknown USER...) fails the build as any step
        # does: the message, exit status 1 (dockerd 20.10), not `docker run`'s 125.
        raise RuntimeFailure(str(exc)) from None
    container_id = result.container_id
    if result.exit_code != 0:
        # run_step removed it; dockerd keeps a failed step's container unless --force-rm, and
        # says so then
        if b.options.force_rm:
            b.out.line(f"Removing intermediate container {container_id[:12]}")
        raise BuildFailed(f"The command '{' '.join(cmd)}' returned a non-zero code: {result.exit_code}",
                          result.exit_code)
    if not keep:
        b.out.line(f"Removing intermediate container {container_id[:12]}")
    b.commit(state, probe, result.layer, container_id)


# --------------------------------------------------------------------------- the table

HANDLERS: dict[type[Instruction], Handler] = {
    AddInstruction: dispatch_copy,
    ArgInstruction: dispatch_arg,
    CmdInstruction: dispatch_metadata,
    CopyInstruction: dispatch_copy,
    EntrypointInstruction: dispatch_metadata,
    EnvInstruction: dispatch_metadata,
    ExposeInstruction: dispatch_metadata,
    HealthcheckInstruction: dispatch_metadata,
    LabelInstruction: dispatch_metadata,
    MaintainerInstruction: dispatch_metadata,
    # dockerd 20.10 stores any trigger its parser read (an unknown instruction or flag too:
    # `trigger_error`); the child's FROM fails on it as it runs it (dispatch_from)
    OnbuildInstruction: dispatch_metadata,
    RunInstruction: dispatch_run,
    ShellInstruction: dispatch_metadata,
    StopsignalInstruction: dispatch_metadata,
    UserInstruction: dispatch_metadata,
    VolumeInstruction: dispatch_metadata,
    WorkdirInstruction: dispatch_workdir,
}
