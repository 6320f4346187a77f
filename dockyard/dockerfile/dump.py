"""A stable, readable text dump of a parsed Dockerfile: the format of the golden files in
tests/data/dockerfile/parser/<case>/result (one instruction per line, fields as JSON)."""

from __future__ import annotations

import dataclasses
import json

from dockyard.dockerfile.document import Dockerfile
from dockyard.dockerfile.instructions import Instruction, OnbuildInstruction

__all__ = ["dump"]


def _fields(ins: object) -> dict[str, object]:
    skip = {"original", "line", "start_line", "end_line", "filename", "heredocs", "trigger"}
    out: dict[str, object] = {}
    for f in dataclasses.fields(ins):  # type: ignore[arg-type]
        if f.name in skip:
            continue
        value = getattr(ins, f.name)
        if value in ("", [], None, False) and f.name != "prepend_shell":
            continue
        out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            out[f.name] = [dataclasses.asdict(v) for v in value]
    return out


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def dump(df: Dockerfile) -> str:
    """A stable, readable text form used by the golden tests (one instruction per line)."""
    def line(ins: Instruction, indent: str) -> list[str]:
        head = f"{indent}{ins.start_line}-{ins.end_line} {ins.keyword} {_json(ins.original)}"
        rows = [head + " " + _json(_fields(ins))]
        for doc in ins.heredocs:
            rows.append(f"{indent}  heredoc {_json(_fields(doc) | {'content': doc.content})}")
        if isinstance(ins, OnbuildInstruction) and ins.trigger is not None:
            rows += line(ins.trigger, indent + "  trigger ")
        return rows

    out = [f"directives {json.dumps(df.directives)}", f"escape {json.dumps(df.escape)}"]
    for arg in df.meta_args:
        out += line(arg, "meta ")
    for st in df.stages:
        out.append(f"stage {st.index} name={_json(st.name)} base={_json(st.base)} platform={_json(st.platform)}")
        out += line(st.from_instruction, "  ")
        for ins in st.instructions:
            out += line(ins, "  ")
    return "\n".join(out) + "\n"
