"""The Dockerfile as a build graph (BuildKit's dockerfile2llb): stages become chains of vertices,
COPY --from and RUN --mount from= join them, and only what the target reaches is converted.

Semantics matched with dockerd 20.10's BuildKit frontend (tests/builder/graph/test_reference.py):
- Stage names in progress: `[name i/n]`, `stage-N` for unnamed stages, no name when the build
  has a single stage and nothing else to read (an image in COPY --from, a RUN mount from=, a
  cache mount); `n` counts FROM (an image, not a stage or scratch), RUN, COPY, ADD and
  WORKDIR; the index is right-aligned to the width of `n`.
- A stage based on another continues its filesystem, config, history and declared ARGs... no:
  ARGs are per stage; the image config and history carry over.
- ARG: `--build-arg` wins over the default, a meta ARG's value is inherited when the stage's ARG
  has no default; an ARG with a value is in the environment of every RUN after it (and only
  those). RUN's history lists every ARG declared so far in the stage: `RUN |2 A=1 B=2 cmd`.
- History `created_by`: `RUN <args> # buildkit`, `COPY <srcs> <dest> # buildkit` (no flags),
  metadata as written after expansion (`ENV A=b`, `EXPOSE map[80/tcp:{}]`, `SHELL [a b]`,
  `CMD ["a" "b"]`), `WORKDIR /x` (a layer: the directory is made, owned by USER); ONBUILD adds
  nothing; `WORKDIR /` makes no layer.
- CMD sets ArgsEscaped; ENTRYPOINT drops an inherited CMD unless the stage set one; the base
  image's ONBUILD triggers run right after FROM and OnBuild is cleared.
"""

from __future__ import annotations

import math
import posixpath
import re
import urllib.parse
from collections.abc import Callable

from dockyard.builder.gofmt import go_q_list, go_v_list, healthcheck_text
from dockyard.builder.options import runs_here
from dockyard.builder.graph.image import HISTORY_COMMENT, empty_image, from_image_config, json_copy
from dockyard.builder.graph.ops import (
    ContextOp, CopyOp, CopySource, ExecOp, HttpOp, ImageOp, MkdirOp, Mount, Vertex,
)
from dockyard.dataclass import dataclass, field, replace
from dockyard.digest import Digest
from dockyard.dockerfile import Dockerfile, Stage, parse_trigger
from dockyard.dockerfile.args import PROXY_ARGS, env_to_dict as _env_map, platform_args
from dockyard.dockerfile.instructions import (
    AddInstruction, ArgInstruction, CmdInstruction, CopyInstruction, EntrypointInstruction,
    EnvInstruction, ExposeInstruction, HealthcheckInstruction, Instruction, LabelInstruction,
    MaintainerInstruction, OnbuildInstruction, RunInstruction, ShellInstruction,
    StopsignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
)
from dockyard.dockerfile.shell import ShellError, ShellLex
from dockyard.errors import DockerfileError, DockyardError, InvalidParameter
from dockyard.image.layer import chain_ids
from dockyard.reference import parse_normalized

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

DEFAULT_SHELL = ["/bin/sh", "-c"]
FRONTEND_ERROR = "failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
# compiled when first used (re's cache): not at each start of a build without `# syntax=`
_BUILTIN_FRONTENDS = r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?(?::[\w][\w.-]*)?(?:@sha256:[0-9a-f]{64})?$"


@dataclass
class ResolvedImage:
    """What an image reference names: its ID, its layers and its config (parsed JSON)."""

    image_id: Digest
    diff_ids: list[Digest]
    config: dict[str, Any]


# Resolves an image reference to the image (pulling it when needed).
ImageResolver = Callable[[str], ResolvedImage]


@dataclass
class ConvertOptions:
    """What converting a Dockerfile into a graph needs of the build's options."""

    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    no_cache_filter: list[str] = field(default_factory=list)
    platform: str = "linux/amd64"
    network: str = "default"          # the build's --network: RUN's default
    hostname: str = "buildkitsandbox"
    extra_hosts: tuple[str, ...] = ()  # --add-host NAME:IP


@dataclass
class LayerRef:
    """A history entry with a layer made by this build: which vertex made it."""

    vertex: Vertex


@dataclass
class BuildGraph:
    """A Dockerfile converted: the target vertex and the image config around it."""

    target: Vertex | None                 # the final filesystem (None: scratch, untouched)
    image: dict[str, Any]                 # the image config (see builder.graph.image)
    history: list[dict[str, Any]]         # base history entries then this build's
    base_layers: list[Digest]             # layers of the final stage's base image
    layer_vertices: list[Vertex]          # the vertices of the layers this build adds, in order
    images: list[str] = field(default_factory=list)   # base images, as their names are shown
    uses_context: bool = False
    unused_args: list[str] = field(default_factory=list)
    context_paths: list[str] = field(default_factory=list)  # what the build reads of the context


@dataclass
class _StageState:
    """A stage while it is converted."""

    index: int
    stage: Stage
    display_name: str
    base_name: str = ""                   # the FROM image after expansion
    base: "_StageState | None" = None
    vertex: Vertex | None = None
    image: dict[str, Any] = field(default_factory=dict)
    base_layers: list[Digest] = field(default_factory=list)
    layer_vertices: list[Vertex] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    user: str = ""
    build_args: list[tuple[str, str | None]] = field(default_factory=list)
    cmd_set: bool = False
    cmd_index: int = 0
    cmd_total: int = 0
    deps: set[int] = field(default_factory=set)
    ignore_cache: bool = False
    done: bool = False
    platform: str = ""                    # FROM --platform, expanded


def check_syntax(dockerfile: Dockerfile) -> None:
    """`# syntax=` may name only the built-in Dockerfile frontend (no image can run one)."""
    syntax = dockerfile.directives.get("syntax")
    if syntax is None:
        return
    if not re.match(_BUILTIN_FRONTENDS, syntax.strip()):
        raise InvalidParameter(
            f"failed to solve: unsupported frontend {syntax.strip()!r}: only the built-in Dockerfile "
            "frontend (docker/dockerfile) is available; frontend images are not run")


def frontend_error(exc: DockyardError) -> InvalidParameter:
    """A Dockerfile error as BuildKit's frontend words it: dockerd 20.10's names the line only
    of an instruction's own error (its arguments and flags: `dockerfile parse error line 2:
    Unknown flag: x`); the parser's (`ENV A`), the file's (empty, no stage) and those found while
    the stages are converted (a failed expansion, `EXPOSE 99999`) are the message alone."""
    message = exc.message
    if isinstance(exc, DockerfileError) and exc.line is not None and exc.phase:
        detail = re.sub(r"^the Dockerfile \(.*\) cannot be empty$", "the Dockerfile cannot be empty", exc.detail)
        message = f"dockerfile parse error line {exc.line}: {detail}" if exc.phase == "instruction" else detail
    elif isinstance(exc, DockerfileError) and (m := re.match(r"^[^:\n]*:(\d+): (.*)$", message, re.S)):
        message = f"dockerfile parse error line {m.group(1)}: {m.group(2)}"
    return InvalidParameter(FRONTEND_ERROR + message)


def _add_env(env: list[str], key: str, value: str) -> list[str]:
    out = list(env)
    for i, item in enumerate(out):
        if item.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return out
    out.append(f"{key}={value}")
    return out


class Converter:
    def __init__(self, dockerfile: Dockerfile, options: ConvertOptions, resolve: ImageResolver,
                 dockerfile_text: str = "") -> None:
        self.df = dockerfile
        self.options = options
        self.resolve = resolve
        self.lex = dockerfile.lex()
        self.context = Vertex(ContextOp(), name="[internal] load build context")
        self.uses_context = False
        self.context_paths: set[str] = set()
        self.images: list[str] = []
        self.states: list[_StageState] = []
        self.extra_states = 0                  # BuildKit's "unregistered" states
        self.referenced_args: set[str] = set()
        self.image_vertices: dict[str, tuple[Vertex, ResolvedImage]] = {}
        self.platform_args = platform_args(options.platform)
        self.meta_args = self._meta_args()

    # -- ARGs before FROM -------------------------------------------------------------------
    def _meta_args(self) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for key, value in self.platform_args.items():
            given = self.options.build_args.get(key)
            values[key] = given if given is not None else value
        for ins in self.df.meta_args:
            for arg in ins.args:
                value = arg.value
                if value is not None:
                    value = self._word(ins, value, {k: v for k, v in values.items() if v is not None})
                if self.options.build_args.get(arg.key) is not None:
                    value = self.options.build_args[arg.key]
                values[arg.key] = value
                self.referenced_args.add(arg.key)
        return values

    def _meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta_args.items() if v is not None}

    def _word(self, ins: Instruction, word: str, env: dict[str, str]) -> str:
        try:
            return self.lex.process_word(word, env)
        except ShellError as err:
            raise ins.error(err.message) from None

    # -- stages ----------------------------------------------------------------------------
    def _find(self, name: str, before: int | None = None) -> _StageState | None:
        for st in self.states[: before if before is not None else len(self.states)]:
            if st.stage.name is not None and st.stage.name == name.lower():
                return st
        return None

    def convert(self) -> BuildGraph:
        check_syntax(self.df)
        for stage in self.df.stages:
            base = self._word(stage.from_instruction, stage.base, self._meta_env())
            if base == "":
                raise stage.from_instruction.error(f"base name ({stage.base}) should not be blank")
            name = stage.name or f"stage-{stage.index}"
            st = _StageState(stage.index, stage, name, base_name=base)
            st.base = self._find(base)
            if stage.platform:
                st.platform = self._word(stage.from_instruction, stage.platform, self._meta_env())
            total = 1 if base.lower() != "scratch" and st.base is None else 0
            for ins in stage.instructions:
                if isinstance(ins, (AddInstruction, CopyInstruction, RunInstruction, WorkdirInstruction)):
                    total += 1
            st.cmd_total = total
            if self.options.no_cache:
                st.ignore_cache = True
            elif stage.name and any(n.lower() == stage.name for n in self.options.no_cache_filter):
                st.ignore_cache = True
            self.states.append(st)
        for name in self.options.no_cache_filter:
            if self._find(name) is None:
                raise InvalidParameter(f"no-cache-filter: target stage {name} could not be found")
        target = self._target()
        for st in self.states:
            self._deps(st)
        self._check_cycles()
        reachable = self._reachable(target)
        if len(self.states) + self.extra_states == 1:
            self.states[0].display_name = ""
        for st in self.states:
            if st.index in reachable:
                self._dispatch_stage(st)
        if self.options.labels:
            labels = dict(target.image["config"].get("Labels") or {})
            labels.update(self.options.labels)
            target.image["config"]["Labels"] = labels
        history = target.image.pop("history")
        return BuildGraph(target.vertex, target.image, history, target.base_layers,
                          target.layer_vertices, self.images, self.uses_context,
                          self._unused_args(), sorted(self.context_paths))

    def _unused_args(self) -> list[str]:
        return sorted(k for k in self.options.build_args
                      if k not in self.referenced_args and k not in PROXY_ARGS)

    def _target(self) -> _StageState:
        if not self.options.target:
            return self.states[-1]
        st = self._find(self.options.target)
        if st is None:
            raise InvalidParameter(FRONTEND_ERROR + f"target stage {self.options.target} could not be found")
        return st

    def _stage_ref(self, text: str, current: int) -> _StageState | None:
        """COPY --from / mount from=: a stage name, or an index of an earlier stage."""
        if text.isdecimal():
            index = int(text)
            if index >= len(self.states):
                raise InvalidParameter(FRONTEND_ERROR + f"invalid stage index {index}")
            return self.states[index]
        return self._find(text)

    def _deps(self, st: _StageState) -> None:
        """The stages a stage reads (FROM, COPY --from, RUN --mount from=), and the count of
        sources that are not stages (images, scratch for cache mounts) BuildKit adds."""
        if st.base is not None:
            st.deps.add(st.base.index)
        for ins in st.stage.instructions:
            sources: list[str] = []
            if isinstance(ins, CopyInstruction) and ins.from_:
                sources.append(ins.from_)
            if isinstance(ins, RunInstruction):
                for m in ins.mounts:
                    if m.type == "cache" and not m.from_:
                        sources.append("scratch")
                    elif m.from_ and m.type != "tmpfs":
                        sources.append(m.from_)
            for src in sources:
                ref = None if src == "scratch" else self._stage_ref(src, st.index)
                if ref is None:
                    self.extra_states += 1
                else:
                    st.deps.add(ref.index)

    def _check_cycles(self) -> None:
        state: dict[int, int] = {}  # 1: on the path, 2: done

        def visit(i: int) -> bool:
            state[i] = 1
            for d in self.states[i].deps:
                if state.get(d) == 1 or (d not in state and visit(d)):
                    return True
            state[i] = 2
            return False

        for st in self.states:
            if st.index not in state and visit(st.index):
                raise InvalidParameter(FRONTEND_ERROR + f"circular dependency detected on stage: {st.display_name}")

    def _reachable(self, target: _StageState) -> set[int]:
        seen: set[int] = set()
        todo = [target.index]
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo.extend(self.states[i].deps)
        return seen

    # -- progress names ----------------------------------------------------------------------
    def _prefix(self, st: _StageState, text: str) -> str:
        if st.cmd_total == 0:
            return text
        st.cmd_index += 1
        width = int(1 + math.log10(st.cmd_total))
        name = f"{st.display_name} " if st.display_name else ""
        return f"[{name}{str(st.cmd_index).rjust(width)}/{st.cmd_total}] {text}"

    def _shown(self, ins: Instruction, st: _StageState, raw: bool = False) -> str:
        """The instruction as progress names it: its text with variables expanded."""
        text = ins.original
        lex = ShellLex(self.df.escape, raw_quotes=True, skip_unset_env=True) if raw else self.lex
        try:
            text = lex.process_word(text, _env_map(st.env))
        except ShellError:
            pass
        keyword, sep, rest = text.partition(" ")
        return keyword.upper() + sep + rest

    # -- images ---------------------------------------------------------------------------------
    def _image_vertex(self, name: str, shown: str) -> tuple[Vertex, ResolvedImage]:
        try:
            normalized = parse_normalized(name)
        except DockyardError as exc:
            raise InvalidParameter(FRONTEND_ERROR + f'failed to parse stage name "{name}": {exc}') from None
        key = str(normalized)
        found = self.image_vertices.get(key)
        if found is not None:
            return found
        resolved = self.resolve(name)
        self.images.append(key)
        chain = chain_ids(resolved.diff_ids)[-1] if resolved.diff_ids else None
        vertex = Vertex(ImageOp(name, resolved.image_id, chain, tuple(resolved.diff_ids)), name=shown)
        self.image_vertices[key] = (vertex, resolved)
        return vertex, resolved

    def _source_state(self, text: str, st: _StageState) -> tuple[Vertex | None, list[Digest]]:
        """The filesystem COPY --from / mount from= reads: a stage's, or an image's."""
        ref = self._stage_ref(text, st.index)
        if ref is not None:
            if ref.index == st.index:
                raise InvalidParameter(FRONTEND_ERROR + f"circular dependency detected on stage: {st.display_name}")
            if not ref.done:
                self._dispatch_stage(ref)
            return ref.vertex, ref.base_layers
        if text.lower() == "scratch":
            return None, []
        vertex, resolved = self._image_vertex(text, f"FROM {_tag_name_only(text)}")
        return (vertex if resolved.diff_ids else None), resolved.diff_ids

    # -- dispatch ---------------------------------------------------------------------------------
    def _dispatch_stage(self, st: _StageState) -> None:
        if st.done:
            return
        st.done = True
        if st.platform and not runs_here(st.platform):
            # dockerd pulls the image for that platform and runs its RUNs under emulation, if
            # any; dockyard would take the image it has and run it as linux/amd64
            raise st.stage.from_instruction.error(
                f"FROM --platform={st.platform}: platform {st.platform} is not supported here (only linux/amd64)")
        if st.base is not None:
            base = st.base
            if not base.done:
                self._dispatch_stage(base)
            st.vertex = base.vertex
            st.image = json_copy(base.image)
            st.base_layers = list(base.base_layers)
            st.layer_vertices = list(base.layer_vertices)
        elif st.base_name.lower() == "scratch":
            st.image = empty_image()
        else:
            vertex, resolved = self._image_vertex(
                st.base_name, self._prefix(st, f"FROM {display_ref(st.base_name)}"))
            st.image = from_image_config(resolved.config)
            st.base_layers = list(resolved.diff_ids)
            st.vertex = vertex if resolved.diff_ids else None
        cfg = st.image["config"]
        env = list(cfg.get("Env") or [])
        if "PATH" not in _env_map(env):
            env.append(f"PATH={DEFAULT_PATH}")
            cfg["Env"] = env
        st.env = list(cfg.get("Env") or [])
        st.cwd = cfg.get("WorkingDir") or "/"
        st.user = cfg.get("User") or ""
        triggers = cfg.get("OnBuild") or []
        cfg["OnBuild"] = None
        for text in triggers:  # each trigger alone, as BuildKit's dispatchOnBuildTriggers
            try:
                ins = parse_trigger(text)
            except DockerfileError as exc:
                raise frontend_error(exc) from None
            self._dispatch(st, ins)
        for ins in st.stage.instructions:
            self._dispatch(st, ins)

    def _history(self, st: _StageState, text: str, vertex: Vertex | None = None) -> None:
        entry: dict[str, Any] = {"created_by": text, "comment": HISTORY_COMMENT}
        if vertex is None:
            entry["empty_layer"] = True
        else:
            st.layer_vertices.append(vertex)
        st.image["history"].append(entry)

    def _expand(self, st: _StageState, ins: Instruction) -> Instruction:
        expand = getattr(ins, "expand", None)
        if expand is None:
            return ins
        return expand(self.lex, _env_map(st.env))

    def _dispatch(self, st: _StageState, ins: Instruction) -> None:
        cfg = st.image["config"]
        if isinstance(ins, RunInstruction):
            self._run(st, ins)
            return
        if isinstance(ins, (CopyInstruction, AddInstruction)):
            self._copy(st, ins)
            return
        if isinstance(ins, ArgInstruction):
            self._arg(st, ins)
            return
        ins = self._expand(st, ins)
        if isinstance(ins, EnvInstruction):
            parts = []
            env = list(cfg.get("Env") or [])
            for pair in ins.pairs:
                if not pair.key:
                    raise ins.error("ENV names can not be blank", "instruction")
                st.env = _add_env(st.env, pair.key, pair.value)
                env = _add_env(env, pair.key, pair.value)
                parts.append(f"{pair.key}={pair.value}")
            cfg["Env"] = env
            self._history(st, "ENV " + " ".join(parts))
        elif isinstance(ins, WorkdirInstruction):
            self._workdir(st, ins)
        elif isinstance(ins, MaintainerInstruction):
            st.image["author"] = ins.maintainer
            self._history(st, f"MAINTAINER {ins.maintainer}")
        elif isinstance(ins, LabelInstruction):
            labels = dict(cfg.get("Labels") or {})
            parts = []
            for pair in ins.pairs:
                labels[pair.key] = pair.value
                parts.append(f"{pair.key}={pair.value}")
            cfg["Labels"] = labels
            self._history(st, "LABEL " + " ".join(parts))
        elif isinstance(ins, OnbuildInstruction):
            if ins.trigger_error:
                raise ins.error(ins.trigger_error, "instruction")
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [ins.expression.strip()]
        elif isinstance(ins, CmdInstruction):
            args = self._with_shell(st, ins.cmd) if ins.prepend_shell else list(ins.cmd)
            cfg["Cmd"] = args
            cfg["ArgsEscaped"] = True
            st.cmd_set = True
            self._history(st, "CMD " + go_q_list(args))
        elif isinstance(ins, EntrypointInstruction):
            args = self._with_shell(st, ins.cmd) if ins.prepend_shell else list(ins.cmd)
            cfg["Entrypoint"] = args
            if not st.cmd_set:
                cfg.pop("Cmd", None)
            self._history(st, "ENTRYPOINT " + go_q_list(args))
        elif isinstance(ins, HealthcheckInstruction):
            h = ins.health
            health = {"Test": list(h.test), "Interval": h.interval, "Timeout": h.timeout,
                      "StartPeriod": h.start_period, "Retries": h.retries}
            cfg["Healthcheck"] = {k: v for k, v in health.items() if v}
            self._history(st, "HEALTHCHECK " + healthcheck_text(health))
        elif isinstance(ins, ExposeInstruction):
            # Not at the top: the classic builder's config rules (EXPOSE's ports, STOPSIGNAL's
            # names) are loaded by a Dockerfile that uses them (tests/test_start_up.py)
            from dockyard.builder.metadata import expose_ports

            try:
                ports = expose_ports(ins.ports)
            except InvalidParameter as exc:
                raise ins.error(exc.message) from None
            exposed = dict(cfg.get("ExposedPorts") or {})
            for port in ports:
                exposed[port] = {}
            cfg["ExposedPorts"] = exposed
            shown = " ".join(f"{p}:{{}}" for p in sorted(set(ports)))
            self._history(st, f"EXPOSE map[{shown}]")
        elif isinstance(ins, UserInstruction):
            st.user = ins.user
            cfg["User"] = ins.user
            self._history(st, f"USER {ins.user}")
        elif isinstance(ins, VolumeInstruction):
            volumes = dict(cfg.get("Volumes") or {})
            for v in ins.volumes:
                if v == "":
                    raise ins.error("VOLUME specified can not be an empty string", "instruction")
                volumes[v] = {}
            cfg["Volumes"] = volumes
            self._history(st, "VOLUME " + go_v_list(ins.volumes))
        elif isinstance(ins, StopsignalInstruction):
            from dockyard.builder.metadata import check_signal  # as EXPOSE's

            try:
                check_signal(ins.signal)
            except InvalidParameter as exc:
                raise ins.error(exc.message) from None
            cfg["StopSignal"] = ins.signal
            self._history(st, f"STOPSIGNAL {ins.signal}")
        elif isinstance(ins, ShellInstruction):
            cfg["Shell"] = list(ins.cmd)
            self._history(st, "SHELL " + go_v_list(ins.cmd))
        else:
            raise ins.error(f"unknown instruction: {ins.keyword}", "instruction")

    def _with_shell(self, st: _StageState, cmd: list[str]) -> list[str]:
        shell = list(st.image["config"].get("Shell") or DEFAULT_SHELL)
        return shell + [" ".join(cmd)]

    def _arg(self, st: _StageState, ins: ArgInstruction) -> None:
        ins = ins.expand(self.lex, _env_map(st.env))
        parts = []
        for arg in ins.args:
            self.referenced_args.add(arg.key)
            parts.append(arg.key + (f"={arg.value}" if arg.value is not None else ""))
            value = arg.value
            if self.options.build_args.get(arg.key) is not None:
                value = self.options.build_args[arg.key]
            if value is None and arg.key in self.meta_args:
                value = self.meta_args[arg.key]
            if value is not None:
                st.env = _add_env(st.env, arg.key, value)
            st.build_args.append((arg.key, value))
        self._history(st, "ARG " + " ".join(parts))

    def _workdir(self, st: _StageState, ins: WorkdirInstruction) -> None:
        path = ins.path
        cfg = st.image["config"]
        wd = path if path.startswith("/") else posixpath.join("/", cfg.get("WorkingDir") or "/", path)
        wd = posixpath.normpath(wd) if wd != "/" else "/"
        if wd.startswith("//"):
            wd = wd[1:]
        st.cwd = wd
        cfg["WorkingDir"] = wd
        if wd == "/":
            self._history(st, "WORKDIR /")
            return
        vertex = Vertex(MkdirOp(wd, 0o755, cfg.get("User") or ""), (st.vertex,),
                        self._prefix(st, self._shown(ins, st)), st.ignore_cache,
                        (ins.start_line, ins.end_line))
        st.vertex = vertex
        self._history(st, f"WORKDIR {wd}", vertex)

    def _run(self, st: _StageState, ins: RunInstruction) -> None:
        shown = self._prefix(st, self._shown(ins, st, raw=True))
        env = _env_map(st.env)
        ins = ins.expand(self.lex, env)
        if ins.heredocs and ins.prepend_shell:
            args = self._heredoc_args(st, ins)
        elif ins.prepend_shell:
            args = self._with_shell(st, ins.cmd)
        else:
            args = list(ins.cmd)
        inputs: list[Vertex | None] = [st.vertex]
        mounts: list[Mount] = []
        run_env = list(st.env)
        ssh_index = 0
        for m in ins.mounts:
            mount = self._mount(st, ins, m, inputs)
            if mount.type == "ssh":
                if not mount.target:  # BuildKit's default socket path, and SSH_AUTH_SOCK
                    mount = replace(mount, target=f"/run/buildkit/ssh_agent.{ssh_index}")
                if ssh_index == 0 and "SSH_AUTH_SOCK" not in _env_map(run_env):
                    run_env.append(f"SSH_AUTH_SOCK={mount.target}")
                ssh_index += 1
            mounts.append(mount)
        network = ins.network or self.options.network
        security = ins.security or "sandbox"
        proxy = tuple(f"{k}={v}" for k, v in self.options.build_args.items()
                      if k in PROXY_ARGS and v is not None)
        op = ExecOp(tuple(args), tuple(run_env), st.cwd, st.user, network, security,
                    tuple(mounts), self.options.hostname, proxy, self.options.extra_hosts)
        vertex = Vertex(op, tuple(inputs), shown, st.ignore_cache, (ins.start_line, ins.end_line))
        st.vertex = vertex
        shown_args = []
        for key, value in st.build_args:
            shown_args.append(f"{key}={env.get(key, value or '')}")
        prefix = [f"|{len(shown_args)}", *shown_args] if shown_args else []
        self._history(st, "RUN " + " ".join(prefix + args) + " # buildkit", vertex)

    def _heredoc_args(self, st: _StageState, ins: RunInstruction) -> list[str]:
        shell = list(st.image["config"].get("Shell") or DEFAULT_SHELL)
        line = ins.cmd[0] if ins.cmd else ""
        doc = ins.heredocs[0]
        if len(ins.heredocs) == 1 and line.strip().lstrip("0123456789") in (
                f"<<{doc.name}", f"<<-{doc.name}", f"<<'{doc.name}'", f'<<"{doc.name}"',
                f"<<-'{doc.name}'", f'<<-"{doc.name}"'):
            content = doc.content
            if content.startswith("#!"):
                return shell + [content]
            return shell + [content]
        script = line + "\n" + "".join(d.content + d.name + "\n" for d in ins.heredocs)
        return shell + [script]

    def _mount(self, st: _StageState, ins: RunInstruction, m: Any, inputs: list[Vertex | None]) -> Mount:
        target = m.target
        if not target and m.type not in ("secret", "ssh"):
            raise ins.error("mount target must be specified", "instruction")
        if target:  # a relative target is below WORKDIR, a secret's and an agent's too
            if not target.startswith("/"):
                target = posixpath.join("/", st.cwd, target)
            target = posixpath.normpath(target)
            if target == "/":
                raise InvalidParameter(FRONTEND_ERROR + f'invalid mount target "{target}"')
        selector = posixpath.normpath(posixpath.join("/", m.source)) if m.source else "/"
        if m.type == "tmpfs":
            return Mount("tmpfs", target, size=m.size or 0)
        if m.type == "secret":
            secret_id = m.source or m.id
            if not secret_id:
                if not target:
                    raise InvalidParameter(FRONTEND_ERROR + "one of source, target required")
                secret_id = posixpath.basename(target)
            if not target and not m.env:
                target = "/run/secrets/" + posixpath.basename(secret_id)
            return Mount("secret", target, secret_id=secret_id, required=m.required,
                         mode=m.mode, uid=m.uid, gid=m.gid, env=m.env or "")
        if m.type == "ssh":
            if m.source:
                raise InvalidParameter(FRONTEND_ERROR + "ssh does not support source")
            return Mount("ssh", target, secret_id=m.id or "default", required=m.required,
                         mode=m.mode, uid=m.uid, gid=m.gid)
        index = -1
        if m.from_:
            vertex, _layers = self._source_state(m.from_, st)
            inputs.append(vertex)
            index = len(inputs) - 1
        elif m.type == "bind":
            self.uses_context = True
            self.context_paths.add(selector)
            inputs.append(self.context)
            index = len(inputs) - 1
        if m.type == "cache":
            cache_id = m.id or target
            sharing = m.sharing or "shared"
            return Mount("cache", target, index, selector, m.readonly if m.readonly is not None else False,
                         cache_id=cache_id, sharing=sharing, mode=m.mode, uid=m.uid, gid=m.gid)
        return Mount("bind", target, index, selector, m.readonly)

    def _copy(self, st: _StageState, ins: CopyInstruction | AddInstruction) -> None:
        shown = self._prefix(st, self._shown(ins, st))
        ins = ins.expand(self.lex, _env_map(st.env))
        is_add = isinstance(ins, AddInstruction)
        dest = ins.dest
        joined = dest if dest.startswith("/") else posixpath.join(st.cwd, dest)
        dest_abs = posixpath.normpath(posixpath.join("/", joined))
        if dest_abs.startswith("//"):
            dest_abs = dest_abs[1:]
        if dest in (".", "") or dest.endswith("/"):
            dest_abs = dest_abs.rstrip("/") + "/"
        chmod = None
        if ins.chmod:
            # dockerd 20.10 ignores a mode it cannot parse (999, u+x) and drops the bits above
            # 7777 (17777 is 0777): a wrong mode is refused here instead
            if not re.fullmatch(r"[0-7]+", ins.chmod) or int(ins.chmod, 8) > 0o7777:
                raise ins.error(f"invalid --chmod={ins.chmod}: want an octal mode, 0 to 7777", "instruction")
            chmod = int(ins.chmod, 8)
        inputs: list[Vertex | None] = [st.vertex]
        sources: list[CopySource] = []
        from_ = getattr(ins, "from_", "")
        source_index = -1
        for src in ins.sources:
            if src.startswith(("http://", "https://")):
                if not is_add:
                    raise InvalidParameter(FRONTEND_ERROR + "source can't be a URL for COPY")
                name = posixpath.basename(urllib.parse.urlparse(src).path) or "__unnamed__"
                if name in (".", "/"):
                    name = "__unnamed__"
                inputs.append(Vertex(HttpOp(src, name, ins.checksum), name=f"https://{src.split('://', 1)[1]}"))
                sources.append(CopySource(len(inputs) - 1, ""))
                continue
            if is_add and ins.checksum:
                raise InvalidParameter(FRONTEND_ERROR + "checksum can't be specified for non-HTTP(S) sources")
            if source_index < 0:
                if from_:
                    vertex, _layers = self._source_state(from_, st)
                    inputs.append(vertex)
                else:
                    self.uses_context = True
                    inputs.append(self.context)
                source_index = len(inputs) - 1
            if not from_:
                self.context_paths.add(posixpath.normpath(posixpath.join("/", src)))
            sources.append(CopySource(source_index, src))
        for doc in ins.heredoc_sources:
            sources.append(CopySource(-1, doc.path, heredoc=doc.data))
        op = CopyOp(tuple(sources), dest_abs, ins.chown, chmod, is_add, ins.link,
                    tuple(ins.exclude), getattr(ins, "parents", False))
        vertex = Vertex(op, tuple(inputs), shown, st.ignore_cache, (ins.start_line, ins.end_line))
        st.vertex = vertex
        words = [*ins.sources, *(f"<<{d.path}" for d in ins.heredoc_sources)]
        self._history(st, f"{'ADD' if is_add else 'COPY'} {' '.join(words)} {ins.dest} # buildkit", vertex)



def _tag_name_only(ref: str) -> str:
    """reference.TagNameOnly: the normalized name with `:latest` when it has no tag."""
    try:
        return str(parse_normalized(ref))
    except DockyardError:
        return ref


def display_ref(name: str) -> str:
    """The image as the frontend names its FROM vertex: normalized, without a tag it was not
    written with (`FROM busybox` is `docker.io/library/busybox`)."""
    try:
        text = str(parse_normalized(name))
    except DockyardError:
        return name
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last and text.endswith(":latest"):
        text = text[: -len(":latest")]
    return text


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def convert(dockerfile: Dockerfile, options: ConvertOptions, resolve: ImageResolver) -> BuildGraph:
    try:
        return Converter(dockerfile, options, resolve).convert()
    except DockerfileError as exc:
        raise frontend_error(exc) from None
