"""Why a BuildKit-mode step misses the cache (`build --explain-cache`): one line per missing
step, `miss [stage-1 3/6] RUN ...: REASON`, found once the plan is made (every key known):

- `--no-cache` (or the stage is in --no-cache-filter);
- `parent changed at [step]`: an input of the step runs (missed) too: the earliest step of
  that chain whose own inputs hit is named;
- else against the records of the same operation on the same inputs (earlier builds of this
  step: records keep what their key was made of, `CacheRecord.parts`): the files a copy reads
  that changed (from the file list kept with the record), the build arg or ENV value a RUN
  sees that changed (old and new), or the command that changed (what it was);
- else the step was never built on these inputs (`not built before on this parent`).

A step whose key waits for a stage to run (a COPY --from keyed by the content it copies, and
the steps after it: solver's module doc) may still hit: `maybe [step]: ...` names the stage step
that runs first.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.builder.copy.manifest import changes, source_manifest
from dockyard.builder.graph.ops import Vertex

# The solver calls this module (lazily, with --explain-cache only); its type is not imported here.
Solver = Any

__all__ = ["explain_misses"]


def explain_misses(solver: Solver, order: list[Vertex]) -> list[str]:
    earlier: dict[tuple, list[dict[str, Any]]] | None = None
    lines = []
    for v in order:
        plan = solver.plans.get(v.digest)
        if plan is None or not plan.executes or not v.adds_layer:
            continue
        if plan.deferred and not v.ignore_cache:
            cause = next((a for a in v.walk() if a is not v and a.adds_layer
                          and solver.plans[a.digest].executes and not solver.plans[a.digest].deferred), None)
            after = f" once {cause.name} has run" if cause is not None else " when its sources are read"
            lines.append(f"maybe {v.name}: keyed by the content of files a stage makes, known{after}")
            continue
        if earlier is None:
            earlier = _records_by_inputs(solver)
        lines.append(f"miss {v.name}: {_reason(solver, v, earlier)}")
    return lines


def _records_by_inputs(solver: Solver) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = {}
    for record in solver.cache.records():
        if record.parts is not None:
            parts = dict(record.parts, created=record.created)
            out.setdefault((parts.get("kind"), tuple(parts.get("inputs") or ())), []).append(parts)
    for found in out.values():
        found.sort(key=lambda p: p["created"], reverse=True)
    return out


def _first_cause(solver: Solver, v: Vertex) -> Vertex | None:
    """The earliest missing step among `v`'s inputs (following missing inputs down)."""
    cause = None
    current = v
    while True:
        missing = [i for i in current.inputs if i is not None and i.adds_layer
                   and solver.plans[i.digest].executes and not solver.plans[i.digest].deferred]
        if not missing:
            return cause
        cause = current = missing[0]


def _reason(solver: Solver, v: Vertex, earlier: dict[tuple, list[dict[str, Any]]]) -> str:
    if v.ignore_cache:
        return "--no-cache"
    cause = _first_cause(solver, v)
    if cause is not None:
        return f"parent changed at {cause.name}"
    plan = solver.plans[v.digest]
    parts = plan.parts or {}
    same = earlier.get((parts.get("kind"), tuple(parts.get("inputs") or ())), [])
    if not same:
        return "not built before on this parent"
    for old in same:
        if old.get("op") == parts.get("op"):   # the same step, other content: the files
            return _files(solver, plan, old)
    latest = same[0]
    if parts.get("kind") == "exec":
        old_op, new_op = latest.get("op") or {}, parts.get("op") or {}
        if old_op.get("args") == new_op.get("args"):
            changed = _env_changes(old_op.get("env") or [], new_op.get("env") or [], solver.build_args)
            if changed:
                return changed
        return f"command changed: was {_shown(old_op.get('args') or [])}"
    return "instruction changed (another source, destination or option on the same parent)"


def _files(solver: Solver, plan: Any, old: dict[str, Any]) -> str:
    planned = [s for group in plan.sources if group is not None for s in group]
    before = old.get("files")
    if not planned or not isinstance(before, dict):
        return "files changed (their content digest differs; no file list to compare)"
    text = changes(before, source_manifest(planned) or {})
    return f"files changed: {text}" if text else "files changed (their content digest differs)"


def _env_changes(old: list[str], new: list[str], build_args: frozenset[str]) -> str:
    before = dict(e.partition("=")[::2] for e in old)
    after = dict(e.partition("=")[::2] for e in new)
    out = []
    for name in sorted(before.keys() | after.keys()):
        if before.get(name) != after.get(name):
            what = "build arg" if name in build_args else "build arg or ENV"
            was = json.dumps(before[name]) if name in before else "(unset)"
            now = json.dumps(after[name]) if name in after else "(unset)"
            out.append(f"{what} {name} changed: {was} -> {now}")
    return "; ".join(out)


def _shown(args: list[str]) -> str:
    if len(args) == 3 and args[1] == "-c":
        return "RUN " + args[2]
    return "RUN " + json.dumps(args)
