"""The classic builder: stages and steps, the cache probe, commits and the step output.

For each instruction of each needed stage (`Step n/m : ...`): metadata instructions change the
run config and commit an image with an `empty_layer` history entry; COPY/ADD/WORKDIR write a
layer directly; RUN runs a temporary container (dockyard.builder.run). Before doing any work a
step probes the cache (dockyard.builder.cache) with the config it would commit. Per-instruction
semantics live in dockyard.builder.dispatch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from dockyard.builder.cache import ChildIndex, find_cached_config
from dockyard.builder.context import BuildContext
from dockyard.builder.metadata import ConfigState
from dockyard.digest import Digest
from dockyard.dockerfile import Dockerfile, Stage, parse_instruction
from dockyard.dockerfile.args import BuildArgs, platform_args
from dockyard.dockerfile.instructions import CopyInstruction, Instruction
from dockyard.dockerfile.shell import ShellLex
from dockyard.errors import DockyardError, InvalidParameter, NotFound
from dockyard.image.config import ContainerConfig, History, ImageConfig
from dockyard.image.mutate import append
from dockyard.reference import Reference, parse_normalized
from dockyard.store.layers import StoredLayer
from dockyard.store.store import Store

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildFailed(DockyardError):
    """A RUN returned non-zero: Docker's message, and the command's exit code as status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


# Pulls an image by name into the store, printing its status lines; returns the image ID.
ImagePuller = Callable[[str, Callable[[str], None]], Digest]


@dataclass
class BuildOptions:
    tags: list[Reference] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    rm: bool = True
    force_rm: bool = False
    network: str = "default"
    pull: bool = False


class Output:
    """The build's progress stream (text lines and RUN's raw bytes); silent with -q."""

    def __init__(self, write: Callable[[bytes], None], quiet: bool = False) -> None:
        self._write = write
        self.quiet = quiet

    def line(self, text: str) -> None:
        if not self.quiet:
            self._write((text + "\n").encode("utf-8", "surrogateescape"))

    def raw(self, data: bytes) -> None:
        if not self.quiet:
            self._write(data)


@dataclass
class StageState:
    """What a stage has built so far (Docker's dispatchState)."""

    name: str | None
    image_id: Digest | None
    image_config: ImageConfig
    layers: list[StoredLayer]
    meta: ConfigState
    lex: ShellLex

    @property
    def run(self) -> ContainerConfig:
        return self.meta.config

    @property
    def diff_ids(self) -> list[Digest]:
        return [layer.diff_id for layer in self.layers]


@dataclass
class Builder:
    store: Store
    context: BuildContext
    dockerfile: Dockerfile
    options: BuildOptions
    out: Output
    pull: ImagePuller | None = None   # how to get an image the store lacks (a registry pull)
    args: BuildArgs = field(init=False)
    stage_images: dict[int, Digest | None] = field(default_factory=dict)
    step: int = 0
    total: int = 0
    current_stage: int = 0
    children: ChildIndex = field(init=False)

    def __post_init__(self) -> None:
        self.children = ChildIndex(self.store)
        self.args = BuildArgs(self.options.build_args, platform_args("linux/amd64"))
        self.args.add_meta_args(self.dockerfile.meta_args, self.dockerfile.lex())

    # -- stages ---------------------------------------------------------------------------
    def target_index(self) -> int:
        if self.options.target is None:
            return len(self.dockerfile.stages) - 1
        for stage in self.dockerfile.stages:
            if stage.name is not None and stage.name == self.options.target.lower():
                return stage.index
        raise InvalidParameter(f"failed to reach build target {self.options.target} in Dockerfile")

    def stage_ref(self, text: str, before: int, by_index: bool = True) -> int | None:
        """The index of the stage `text` names (name, or number for COPY --from), if it is an
        earlier stage. FROM takes names only (`FROM 0` is an image called 0)."""
        if text.isdecimal() and by_index:
            index = int(text)
            return index if index < before else None
        for stage in self.dockerfile.stages[:before]:
            if stage.name is not None and stage.name == text.lower():
                return stage.index
        return None

    def needed_stages(self, target: int) -> list[int]:
        """The target and, transitively, the stages it names in FROM or COPY --from."""
        needed = {target}
        from_env = self.args.from_env()
        lex = self.dockerfile.lex()
        for index in range(target, -1, -1):
            if index not in needed:
                continue
            stage = self.dockerfile.stages[index]
            try:
                base = stage.from_instruction.expand(lex, from_env).base
            except DockyardError:
                base = stage.base
            ref = self.stage_ref(base, index, by_index=False)
            if ref is not None:
                needed.add(ref)
            for ins in stage.instructions:
                if isinstance(ins, CopyInstruction) and ins.from_:
                    ref = self.stage_ref(ins.from_, index)
                    if ref is not None:
                        needed.add(ref)
        return sorted(needed)

    def build(self) -> Digest:
        target = self.target_index()
        stages = self.needed_stages(target)
        label_instructions = self.label_instructions()
        self.total = sum(1 + len(self.dockerfile.stages[i].instructions) for i in stages)
        self.total += len(label_instructions)
        from dockyard.builder import dispatch

        image_id: Digest | None = None
        for index in stages:
            stage = self.dockerfile.stages[index]
            extra = label_instructions if index == target else []
            state = self.run_stage(stage, extra, dispatch)
            self.stage_images[index] = state.image_id
            image_id = state.image_id
        if image_id is None:
            raise InvalidParameter("No image was generated. Is your Dockerfile empty?")
        unused = self.args.unused()
        if unused:
            self.out.line(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        return image_id

    def label_instructions(self) -> list[Instruction]:
        """`--label k=v`: one LABEL step per label (sorted) at the end of the target stage."""
        out: list[Instruction] = []
        for key in sorted(self.options.labels):
            value = self.options.labels[key]
            ins = parse_instruction(f"LABEL {_quote_label(key)}={_quote_label(value)}", "label")
            out.append(dataclasses.replace(ins, original=f"LABEL {key}={value}"))
        return out

    def run_stage(self, stage: Stage, extra: list[Instruction], dispatch: object) -> StageState:
        self.args.new_stage()
        self.current_stage = stage.index
        self.begin_step(stage.from_instruction.original)
        # Each step holds the store's ingest lock from its new layer to its commit, so a
        # concurrent `rmi` cannot collect the layer before an image references it.
        with self.store.ingesting():
            state = dispatch.dispatch_from(self, stage)  # type: ignore[attr-defined]
        self.end_step(state)
        for ins in [*stage.instructions, *extra]:
            self.begin_step(ins.original)
            with self.store.ingesting():
                dispatch.dispatch(self, state, ins)  # type: ignore[attr-defined]
            self.end_step(state)
        return state

    def begin_step(self, original: str) -> None:
        self.step += 1
        self.out.line(f"Step {self.step}/{self.total} : {original}")

    def end_step(self, state: StageState) -> None:
        """Docker prints the stage's image after every step (empty for scratch)."""
        self.out.line(f" ---> {state.image_id.hex[:12] if state.image_id else ''}")

    # -- images ---------------------------------------------------------------------------
    def base_state(self, name: str | None, image_id: Digest | None, lex: ShellLex) -> StageState:
        if image_id is None:
            config = ImageConfig(architecture="amd64", os="linux")
            layers: list[StoredLayer] = []
        else:
            image = self.store.image(image_id)
            config = image.config
            layers = list(image.layers)  # type: ignore[arg-type]
        run = dataclasses.replace(config.config, extra=dict(config.config.extra))
        run.extra.pop("Image", None)
        run.extra.pop("OpenStdin", None)
        run.extra.pop("StdinOnce", None)
        if "PATH" not in run.env_map():
            run = dataclasses.replace(run, env=list(run.env or []) + [DEFAULT_PATH])
        return StageState(name, image_id, config, layers, ConfigState(run), lex)

    def resolve_image(self, name: str) -> Digest:
        """An image for FROM / COPY --from: from the store, pulled when missing (or always with
        --pull), as the classic builder does; the pull's status lines go into the output."""
        if self.options.pull and self.pull is not None:
            return self.pull(name, self.out.line)
        try:
            return self.store.resolve(name)
        except NotFound:
            if self.pull is not None:
                return self.pull(name, self.out.line)
            try:
                shown = parse_normalized(name).familiar
            except DockyardError:
                shown = name
            raise NotFound(f"pull access denied for {shown.rsplit(':', 1)[0]}, repository does not "
                           f"exist or may require 'docker login': image {shown} is not in the "
                           "local store") from None

    def probe(self, state: StageState, probe: ContainerConfig) -> bool:
        """A cache hit moves the stage to the cached image and prints `Using cache`."""
        if self.options.no_cache:
            return False
        found = find_cached_config(self.store, state.image_id,
                                   self.container_config_dict(state, probe), self.children)
        if found is None:
            return False
        hit, config = found
        # The hit's layers: the stage's own where the diff IDs agree (a cached step adds at most
        # one), the store's record of the others (what store.image(hit) would read again).
        known = {layer.diff_id: layer for layer in state.layers}
        state.image_id = hit
        state.image_config = config
        state.layers = [known.get(d) or self.store.layers.get(d) for d in config.diff_ids]
        self.out.line(" ---> Using cache")
        return True

    def container_config_dict(self, state: StageState, probe: ContainerConfig) -> dict:
        data = probe.to_dict()
        if state.image_id is not None:
            data["Image"] = str(state.image_id)
        return data

    def commit(self, state: StageState, probe: ContainerConfig, layer: StoredLayer | None,
               container_id: str | None = None) -> Digest:
        """A new image: the parent's config with this step's run config, history and layer."""
        parent = state.image_config
        run = dataclasses.replace(state.run, extra=dict(state.run.extra))
        if state.image_id is not None:
            run.extra["Image"] = str(state.image_id)
        step: dict[str, object] = {}
        if container_id:
            step["container"] = container_id
        step["container_config"] = self.container_config_dict(state, probe)
        new = append(
            dataclasses.replace(parent, architecture=parent.architecture or "amd64", os=parent.os or "linux"),
            state.layers, layer, History(created_by=" ".join(probe.cmd or [])),
            config=run, author=state.meta.author,
            drop=("container", "container_config", "docker_version", "parent"), extra=step)
        layers = state.layers + ([layer] if layer is not None else [])
        image = self.store.add_image(new.raw_config, layers, parent=state.image_id)
        self.children.add(state.image_id, image.id)
        state.image_id = image.id
        state.image_config = image.config
        state.layers = layers
        return image.id


def _quote_label(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
