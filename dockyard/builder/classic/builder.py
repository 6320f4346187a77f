"""Docker's classic builder (DOCKER_BUILDKIT=0): stages one after another, steps one after
another, each step's image the child of the previous one.

For each instruction of each stage up to the target (`Step n/m : ...`) the handler of its type
(dispatchers.HANDLERS) expands it, applies it to the stage's config, probes the image-chain cache
with the config it would commit and, on a miss, does the work (a RUN container, a COPY layer) and
commits (state.ClassicBuild). This module is the loop and the step output.
"""

from __future__ import annotations


from dockyard.builder.classic.dispatchers import dispatch, dispatch_from
from dockyard.builder.classic.messages import plain_error
from dockyard.builder.classic.state import ClassicBuild, StageState
from dockyard.dataclass import replace
from dockyard.digest import Digest
from dockyard.dockerfile import Stage, parse_instruction
from dockyard.dockerfile.document import format_warnings
from dockyard.dockerfile.instructions import (
    AddInstruction, CopyInstruction, Instruction, RunInstruction, WorkdirInstruction,
)
from dockyard.errors import DockerfileError, InvalidParameter

__all__ = ["Builder"]


class Builder:
    """One build: `Builder(ClassicBuild(store, context, dockerfile, options, out, pull)).build()`."""

    def __init__(self, build_state: ClassicBuild) -> None:
        self.build_state = build_state
        self.dockerfile = build_state.dockerfile
        self.options = build_state.options
        self.out = build_state.out
        self.step = 0
        self.total = 0

    def target_index(self) -> int:
        if self.options.target is None:
            return len(self.dockerfile.stages) - 1
        for stage in self.dockerfile.stages:
            if stage.name is not None and stage.name == self.options.target.lower():
                return stage.index
        raise InvalidParameter(f"failed to reach build target {self.options.target} in Dockerfile")

    def build(self) -> Digest:
        """Run the build; its image. Each step's image is recorded without publishing it
        (store.add_image): it is a cache entry, and the last one the result; all are published
        once, here, when the build ends, whether it made its image or failed on the way (the
        steps before are cache for the next build, as dockerd keeps them). Until then a crash of
        the host may lose a step's record, never tear it, and nothing durable refers to it."""
        b = self.build_state
        try:
            try:
                image_id = self._build()
                if b.steps_done is not None:
                    b.steps_done()
            except BaseException:
                try:
                    b.settle()  # the steps made before are cache for the next build
                except BaseException:  # noqa: BLE001 - the step's own error is the build's
                    pass
                raise
            b.settle()  # the last step's image is in the store before anyone names it
            return image_id
        finally:
            if b.unpublished:
                b.store.publish_images()

    def _build(self) -> Digest:
        target = self.target_index()
        # Docker's classic builder runs every stage up to the target, in order, whether or not
        # the target uses it (moby builder/dockerfile/builder.go: stages[:targetIx+1]).
        stages = list(range(target + 1))
        label_instructions = self.label_instructions()
        self.total = sum(1 + len(self.dockerfile.stages[i].instructions) for i in stages)
        self.total += len(label_instructions) + len(self.dockerfile.meta_args)
        # The parser's warnings first, as dockerd writes them: on the build's stderr stream,
        # which the classic builder shows in red.
        warnings = format_warnings(self.dockerfile.warnings)
        if warnings:
            self.out.raw(b"\x1b[91m" + warnings.encode("utf-8", "surrogateescape") + b"\x1b[0m")
        # ARGs before the first FROM are steps of their own (counted, printed, nothing built).
        for meta in self.dockerfile.meta_args:
            self.begin_step(meta.original)
        image_id: Digest | None = None
        for index in stages:
            stage = self.dockerfile.stages[index]
            extra = label_instructions if index == target else []
            try:
                state = self.run_stage(stage, extra)
            except DockerfileError as exc:   # a step's: no location (messages.py)
                raise plain_error(exc) from None
            self.build_state.stage_images[index] = state.image_id
            self.build_state.stage_changed[index] = state.changed_at
            image_id = state.image_id
        if image_id is None:
            raise InvalidParameter("No image was generated. Is your Dockerfile empty?")
        unused = self.build_state.args.unused()
        if unused:
            self.out.line(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        return image_id

    def label_instructions(self) -> list[Instruction]:
        """`--label k=v`: one LABEL step per label (sorted) at the end of the target stage."""
        out: list[Instruction] = []
        for key in sorted(self.options.labels):
            value = self.options.labels[key]
            ins = parse_instruction(f"LABEL {_quote_label(key)}={_quote_label(value)}", "label")
            out.append(replace(ins, original=f"LABEL {key}={value}"))
        return out

    def run_stage(self, stage: Stage, extra: list[Instruction]) -> StageState:
        b = self.build_state
        # dockerd checks a stage's name as the stage starts (checkStageNameAvailable)
        if stage.name is not None and any(s.name == stage.name for s in self.dockerfile.stages[:stage.index]):
            raise InvalidParameter(f"{stage.name} stage name already used")
        b.args.new_stage()
        b.current_stage = stage.index
        self.begin_step(stage.from_instruction.original)
        # Each step holds the store's ingest lock from its new layer to its commit, so a
        # concurrent `rmi` cannot collect the layer before an image references it.
        with b.store.ingesting():
            state = dispatch_from(b, stage)
        self.end_step(state)
        steps = [*stage.instructions, *extra]
        last_stage = stage.index == self.target_index()
        for i, ins in enumerate(steps):
            self.begin_step(ins.original)
            b.tree_read_later = not last_stage or any(
                isinstance(later, (RunInstruction, CopyInstruction, AddInstruction, WorkdirInstruction))
                for later in steps[i + 1:])
            with b.store.ingesting():
                dispatch(b, state, ins)
            self.end_step(state)
        return state

    def begin_step(self, original: str) -> None:
        self.step += 1
        self.build_state.step = self.step
        self.out.line(f"Step {self.step}/{self.total} : {original}")

    def end_step(self, state: StageState) -> None:
        """Docker prints the stage's image after every step (empty for scratch)."""
        self.out.line(f" ---> {state.image_id.hex[:12] if state.image_id else ''}")


def _quote_label(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
