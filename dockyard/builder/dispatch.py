"""One function per Dockerfile instruction, as Docker's classic builder dispatches them
(moby builder/dockerfile/dispatchers.go). Each probes the cache with the config it would commit,
and on a miss does the work and commits.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import secrets
import tempfile
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

from dockyard.builder import copy as copying
from dockyard.builder.builder import Builder, BuildFailed, StageState
from dockyard.builder.history import (
    go_q_list, go_v_list, healthcheck_text, nop_cmd, nop_cmd_string,
)
from dockyard.builder.metadata import METADATA_INSTRUCTIONS, apply_metadata, command_line, shell_of
from dockyard.builder.users import chown_ids
from dockyard.dockerfile import ShellLex, Stage, parse_trigger
from dockyard.dockerfile.args import PROXY_ARGS
from dockyard.dockerfile.instructions import (
    AddInstruction, ArgInstruction, CmdInstruction, CopyInstruction, EntrypointInstruction,
    EnvInstruction, ExposeInstruction, HealthcheckInstruction, Instruction, LabelInstruction,
    MaintainerInstruction, OnbuildInstruction, RunInstruction, ShellInstruction,
    StopsignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
)
from dockyard.errors import DockyardError, InvalidParameter
from dockyard.store.layer_writer import write_layer


# --------------------------------------------------------------------------- FROM


def dispatch_from(b: Builder, stage: Stage) -> StageState:
    ins = stage.from_instruction.expand(stage_lex(b), b.args.from_env())
    base = ins.base
    ref = b.stage_ref(base, stage.index, by_index=False)
    if ref is not None:
        image_id = b.stage_images.get(ref)
    elif base.lower() == "scratch":
        image_id = None
    else:
        image_id = b.resolve_image(base)
    state = b.base_state(stage.name, image_id, stage_lex(b))
    triggers = list(state.run.on_build or [])
    if triggers:
        state.meta = dataclasses.replace(state.meta, config=dataclasses.replace(state.run, on_build=None))
        b.out.line(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        for text in triggers:
            try:
                trigger = parse_trigger(text)
            except DockyardError as exc:
                raise InvalidParameter(f"failed to parse onbuild trigger: {exc}") from None
            dispatch(b, state, trigger)
    return state


def stage_lex(b: Builder) -> ShellLex:
    return b.dockerfile.lex()


# --------------------------------------------------------------------------- metadata


def _nop_comment(ins: Instruction, state: StageState) -> str:
    """The comment Docker commits for a metadata instruction (after it was applied)."""
    run = state.run
    if isinstance(ins, EnvInstruction):
        return "ENV " + " ".join(f"{p.key}={p.value}" for p in ins.pairs)
    if isinstance(ins, LabelInstruction):
        return "LABEL " + " ".join(f"{p.key}={p.value}" for p in ins.pairs)
    if isinstance(ins, ExposeInstruction):
        return "EXPOSE " + " ".join(ins.ports)
    if isinstance(ins, CmdInstruction):
        return "CMD " + go_q_list(run.cmd)
    if isinstance(ins, EntrypointInstruction):
        return "ENTRYPOINT " + go_q_list(run.entrypoint)
    if isinstance(ins, UserInstruction):
        return "USER " + ins.user
    if isinstance(ins, VolumeInstruction):
        return "VOLUME " + go_v_list(ins.volumes)
    if isinstance(ins, StopsignalInstruction):
        return "STOPSIGNAL " + ins.signal
    if isinstance(ins, HealthcheckInstruction):
        return "HEALTHCHECK " + healthcheck_text(run.healthcheck)
    if isinstance(ins, ShellInstruction):
        return "SHELL " + go_v_list(ins.cmd)
    if isinstance(ins, MaintainerInstruction):
        return "MAINTAINER " + ins.maintainer
    if isinstance(ins, OnbuildInstruction):
        return "ONBUILD " + ins.expression
    raise InvalidParameter(f"no comment for {ins.keyword}")


def commit_nop(b: Builder, state: StageState, comment: str) -> None:
    """A metadata step: probe, else commit the run config with an empty layer (Docker creates
    and removes a container for it: the same lines are printed)."""
    probe = dataclasses.replace(state.run, cmd=nop_cmd(state.run, comment))
    if b.probe(state, probe):
        return
    container_id = secrets.token_hex(32)  # Docker creates (and removes) a container here
    b.out.line(f" ---> Running in {container_id[:12]}")
    if b.options.rm or b.options.force_rm:
        b.out.line(f"Removing intermediate container {container_id[:12]}")
    b.commit(state, probe, None, container_id)


def expansion_env(b: Builder, state: StageState) -> dict[str, str]:
    return b.args.expansion_env(state.run.env or [])


def dispatch(b: Builder, state: StageState, ins: Instruction) -> None:
    if isinstance(ins, ArgInstruction):
        expanded = ins.expand(state.lex, expansion_env(b, state))
        b.args.declare(expanded)
        parts = [a.key + (f"={a.value}" if a.value is not None else "") for a in expanded.args]
        commit_nop(b, state, "ARG " + " ".join(parts))
        return
    if isinstance(ins, RunInstruction):
        dispatch_run(b, state, ins)
        return
    if isinstance(ins, (CopyInstruction, AddInstruction)):
        dispatch_copy(b, state, ins.expand(state.lex, expansion_env(b, state)))
        return
    if isinstance(ins, WorkdirInstruction):
        dispatch_workdir(b, state, ins.expand(state.lex, expansion_env(b, state)))
        return
    if isinstance(ins, METADATA_INSTRUCTIONS):
        expand = getattr(ins, "expand", None)
        if expand is not None:
            ins = expand(state.lex, expansion_env(b, state))
        if isinstance(ins, OnbuildInstruction) and ins.trigger_error:
            raise ins.error(ins.trigger_error)
        state.meta = apply_metadata(state.meta, ins)
        commit_nop(b, state, _nop_comment(ins, state))
        return
    raise ins.error(f"unknown instruction: {ins.keyword}")


# --------------------------------------------------------------------------- WORKDIR


def dispatch_workdir(b: Builder, state: StageState, ins: WorkdirInstruction) -> None:
    state.meta = apply_metadata(state.meta, ins)
    workdir = state.run.working_dir
    probe = dataclasses.replace(state.run, cmd=nop_cmd_string(state.run, "WORKDIR " + workdir))
    if b.probe(state, probe):
        return
    container_id = secrets.token_hex(32)  # Docker creates (and removes) a container here
    b.out.line(f" ---> Running in {container_id[:12]}")
    if b.options.rm or b.options.force_rm:
        b.out.line(f"Removing intermediate container {container_id[:12]}")
    from dockyard.builder.rootfs import image_root  # mounts (subprocess): a cache miss only

    with image_root(b.store, state.diff_ids) as root:
        layer = write_layer(b.store.layers, lambda out: copying.write_dirs_layer(out, root, workdir))
    b.commit(state, probe, layer, container_id)


# --------------------------------------------------------------------------- COPY / ADD


def _dest(state: StageState, dest: str) -> str:
    """normalizeDest: relative to WORKDIR, trailing slash kept."""
    if dest.startswith("/"):
        return dest
    joined = posixpath.join(state.run.working_dir or "/", dest)
    if (dest.endswith("/") or dest in (".", "./")) and not joined.endswith("/"):
        joined += "/"
    return "/" + joined.lstrip("/")


def dispatch_copy(b: Builder, state: StageState, ins: CopyInstruction | AddInstruction) -> None:
    kw = ins.keyword
    is_add = isinstance(ins, AddInstruction)
    downloads = copying.Downloads()
    try:
        with ExitStack() as stack:
            sources = _sources(b, state, ins, downloads, stack)
            for s in sources:
                if not s.hash:
                    s.hash = copying.checksum(s)
            src_hash = copying.sources_hash(sources)
            chown = f"--chown={ins.chown}" if ins.chown else ""
            chmod = f"--chmod={ins.chmod}" if ins.chmod else ""
            comment = f"{kw} {chown}{chmod}{src_hash} in {ins.dest} "
            probe = dataclasses.replace(state.run, cmd=nop_cmd_string(state.run, comment))
            if b.probe(state, probe):
                return
            mode = None
            if ins.chmod:
                try:
                    mode = int(ins.chmod, 8)
                    if not 0 <= mode <= 0o7777:
                        raise ValueError
                except ValueError:
                    raise ins.error(f"invalid chmod parameter: {ins.chmod}") from None
            from dockyard.builder.rootfs import image_root  # mounts (subprocess): a cache miss only

            with image_root(b.store, state.diff_ids) as root:
                plan = copying.CopyPlan(_dest(state, ins.dest), chmod=mode,
                                        extract_archives=is_add)
                if ins.chown:
                    plan.uid, plan.gid = chown_ids(root, ins.chown)
                    plan.chowned = True
                layer = write_layer(b.store.layers,
                                    lambda out: copying.write_copy_layer(out, sources, plan, root, kw))
        b.commit(state, probe, layer)
    finally:
        downloads.cleanup()


def _sources(b: Builder, state: StageState, ins: CopyInstruction | AddInstruction,
             downloads: copying.Downloads, stack: ExitStack) -> list[copying.Source]:
    """The sources; `stack` keeps the filesystem of a `--from` image mounted meanwhile."""
    kw = ins.keyword
    from_ = getattr(ins, "from_", "")
    heredocs = list(ins.heredoc_sources)
    if from_:
        if b.stage_ref(from_, b.current_stage + 1) == b.current_stage:
            raise InvalidParameter(f"invalid from flag value {from_}: refers to current build stage")
        ref = b.stage_ref(from_, b.current_stage)
        if ref is not None:
            if ref not in b.stage_images:
                raise InvalidParameter(f"invalid from flag value {from_}: stage {from_} was not built "
                                       "(it is needed only by an ONBUILD trigger)")
            image_id = b.stage_images[ref]
        else:
            try:
                image_id = b.resolve_image(from_)
            except DockyardError as exc:
                raise InvalidParameter(f"invalid from flag value {from_}: {exc}") from None
        diff_ids = [] if image_id is None else b.store.image(image_id).config.diff_ids
        from dockyard.builder.rootfs import image_root

        root = stack.enter_context(image_root(b.store, diff_ids))
        return copying.collect_sources(root, ins.sources, None, kw, in_context=False)
    sources: list[copying.Source] = []
    local: list[str] = []
    for src in ins.sources:
        if isinstance(ins, AddInstruction) and urllib.parse.urlparse(src).scheme in ("http", "https"):
            if local:
                sources += copying.collect_sources(b.context.root, local, b.context.ignore, kw)
                local = []
            source = copying.download(src, b.store.tmp, ins.checksum)
            downloads.dirs.append(source.root)
            # Docker records a downloaded source's checksum without a `file:` prefix
            source.hash = copying.checksum(source).split(":", 1)[1]
            sources.append(source)
        else:
            if isinstance(ins, AddInstruction) and ins.checksum:
                raise ins.error("checksum can't be specified for non-HTTP(S) sources")
            local.append(src)
    if local:
        sources += copying.collect_sources(b.context.root, local, b.context.ignore, kw)
    if heredocs:
        work = Path(tempfile.mkdtemp(prefix="build-heredoc-", dir=b.store.tmp))
        downloads.dirs.append(work)
        for doc in heredocs:
            name = posixpath.basename(doc.path)
            (work / name).write_text(doc.data, errors="surrogateescape")
            os.chmod(work / name, 0o644)
            sources.append(copying.Source(work, name, name, os.lstat(work / name)))
    return sources


# --------------------------------------------------------------------------- RUN


def _run_args(b: Builder, state: StageState, ins: RunInstruction) -> list[str]:
    if ins.heredocs and ins.prepend_shell:
        line = ins.cmd[0] if ins.cmd else ""
        doc = ins.heredocs[0]
        if len(ins.heredocs) == 1 and line.strip().lstrip("0123456789") in (
                f"<<{doc.name}", f"<<-{doc.name}", f"<<'{doc.name}'", f'<<"{doc.name}"',
                f"<<-'{doc.name}'", f'<<-"{doc.name}"'):
            return shell_of(state.run) + [doc.content]
        script = line + "\n" + "".join(d.content + d.name + "\n" for d in ins.heredocs)
        return shell_of(state.run) + [script]
    return command_line(state.run, ins.cmd, ins.prepend_shell)


def dispatch_run(b: Builder, state: StageState, ins: RunInstruction) -> None:
    for flag, used in (("--mount", ins.mount_specs), ("--security", ins.security)):
        if used:
            # Docker's classic builder: these RUN flags exist only with BuildKit.
            raise ins.error(f"the {flag} option requires BuildKit")
    ins = ins.expand(state.lex, expansion_env(b, state))
    cmd = _run_args(b, state, ins)
    env_keys = set(state.run.env_map())
    build_args = [f"{k}={v}" for k, v in b.args.stage_args().items() if k not in env_keys]
    save_cmd = list(cmd)
    if build_args:
        shown = sorted(a for a in build_args
                       if a.partition("=")[0] in b.args.referenced or a.partition("=")[0] not in PROXY_ARGS)
        save_cmd = [f"|{len(shown)}", *shown, *cmd]
    probe = dataclasses.replace(state.run, cmd=save_cmd, entrypoint=None if save_cmd else state.run.entrypoint)
    if b.probe(state, probe):
        return
    # Here, on a cache miss: the container engine and runtime (~10 ms of imports) are what a
    # RUN step needs, and a fully cached build never does.
    from dockyard.builder.run import RunSpec, run_step

    network = ins.network or b.options.network
    spec = RunSpec(args=cmd, env=list(state.run.env or []) + build_args, user=state.run.user,
                   workdir=state.run.working_dir, volumes=list((state.run.volumes or {}).keys()),
                   network="none" if network == "none" else "host")
    keep = not (b.options.rm or b.options.force_rm)
    result = run_step(b.store, state.image_id, state.diff_ids, spec, b.out.raw,
                      lambda cid: b.out.line(f" ---> Running in {cid[:12]}"), keep=keep)
    container_id = result.container_id
    if result.exit_code != 0:
        raise BuildFailed(f"The command '{' '.join(cmd)}' returned a non-zero code: {result.exit_code}",
                          result.exit_code)
    if not keep:
        b.out.line(f"Removing intermediate container {container_id[:12]}")
    b.commit(state, probe, result.layer, container_id)

