"""Output formatting as the docker CLI does it: tables, human sizes and durations."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TextIO

from dockyard.errors import InvalidParameter
from dockyard.gojson import go_json

def go_time(moment: datetime | None) -> str:
    """Go's time.Time String() in UTC, as `--format json` shows CreatedAt."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def go_time_text(text: str) -> str:
    """An RFC 3339 UTC time (the Engine API's `2026-12-08T01:06:04.963546656Z`) as Go's
    time.Time String() writes it: `2026-12-08 01:06:04.963546656 +0000 UTC` (the fraction's
    trailing zeros dropped); another text is returned as it is."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z", text)
    if match is None:
        return text
    fraction = (match.group(3) or "").rstrip("0").rstrip(".")
    return f"{match.group(1)} {match.group(2)}{fraction} +0000 UTC"


def rfc3339(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_id(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to `width` display chars, ending with `…`."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"


def port_text(ports: list[dict[str, Any]]) -> str:
    """The PORTS column of `ps` from a row's Ports: `0.0.0.0:8080->80/tcp` for a published
    port, `80/tcp` for an exposed one, in the order of the container's ports, joined by
    `, ` (the docker CLI also folds runs of consecutive ports into ranges; dockyard does not)."""
    out = []
    for p in ports:
        private = f"{p['PrivatePort']}/{p.get('Type') or 'tcp'}"
        text = f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{private}" if p.get("PublicPort") else private
        if text not in out:
            out.append(text)
    return ", ".join(out)


def write_table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Go's tabwriter as the docker CLI sets it up: minwidth 10, padding 3, spaces."""
    all_rows = [list(header)] + [list(r) for r in rows]
    ncols = max(len(r) for r in all_rows)
    widths = [0] * ncols
    for row in all_rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    for row in all_rows:
        parts = []
        for i, cell in enumerate(row):
            if i < len(row) - 1:
                parts.append(cell.ljust(max(widths[i] + 3, 10)))
            else:
                parts.append(cell)
        out.write("".join(parts) + "\n")   # an empty last cell keeps the padding before it, as Go's


def write_json_lines(out: TextIO, objects: Sequence[dict[str, Any]]) -> None:
    for obj in objects:
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")


def write_json_indented(out: TextIO, data: Any) -> None:
    """`docker inspect` output: a JSON array, 4-space indent, no HTML escaping."""
    out.write(json.dumps(data, indent=4, ensure_ascii=False) + "\n")


def go_value(value: Any) -> str:
    """A value as Go's text/template prints it: `[a b]`, `map[k:v]`, `<nil>`, `true`."""
    if value is None:
        return "<nil>"
    if value is _NO_VALUE:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, GoStruct):
        return "{" + " ".join(go_value(value.field(name)) for name, _, _ in value.fields) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


class GoStruct(dict):
    """A Go struct as the docker CLI's template sees it where it formats a struct (`version`):
    its JSON form is what `{{json}}` prints, its fields go by their Go names (`APIVersion`, whose
    JSON key is `ApiVersion`), a name it lacks is an error (not `<no value>` as a map's), and
    it prints as `{v1 v2 ...}`. `fields`: (Go name, JSON key, zero value) in the struct's order."""

    def __init__(self, type_name: str, fields: Sequence[tuple[str, str, Any]], data: dict[str, Any]) -> None:
        super().__init__(data)
        self.type_name, self.fields = type_name, fields

    def field(self, name: str) -> Any:
        for go_name, key, zero in self.fields:
            if go_name == name:
                return self.get(key, zero)
        raise InvalidParameter(f"template: can't evaluate field {name} in type {self.type_name}")


class _NoValue:
    """A key a map lacks, as Go's text/template has it: printed `<no value>`, `null` as JSON."""


_NO_VALUE = _NoValue()


# The fields of Docker's inspect types that are Go maps keyed by strings (map[string]string,
# map[string]struct{}): the docker CLI runs the template on the typed struct first, where a key of
# such a map that is nil (`null`) is `<no value>`, as a key the map lacks
_STRING_MAPS = frozenset(["Labels", "Volumes", "Sysctls", "StorageOpt", "Tmpfs", "Options", "DriverOpts"])


def _lookup(values: Any, path: str) -> Any:
    parent = ""
    for part in path.split(".")[1:]:
        if not part:
            continue
        if isinstance(values, GoStruct):
            values = values.field(part)
        elif isinstance(values, dict):
            values = values.get(part, _NO_VALUE)
        elif values is None and parent in _STRING_MAPS:
            values = _NO_VALUE
        elif values is None or values is _NO_VALUE:
            raise InvalidParameter(f"template: nil pointer evaluating interface {{}}.{part}")
        else:
            raise InvalidParameter(f"template: can't evaluate field {part}")
        parent = part
    return values


def render_template(template: str, values: dict[str, Any],
                    methods: dict[str, Callable[[str], str]] | None = None) -> str:
    """The subset of Go templates the docker CLI's --format is used with: `{{.A.B}}`,
    `{{json .A}}`, `{{json .}}`, `\\t` and `\\n`, and a row's methods called with one string
    (`ps`' `{{.Label "com.example"}}`)."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def substitute(match: "re.Match[str]") -> str:
        func, path, argument = match.group(1), match.group(2), match.group(3)
        if argument is not None:
            name = path[1:]
            if func is not None or methods is None or name not in methods:
                raise InvalidParameter(f"template: can't evaluate field {name}")
            return methods[name](json.loads(argument))
        value = _lookup(values, path)
        if isinstance(value, _Row) and func == "json":   # the row's MarshalJSON: Go's json.Marshal
            return go_json(value).decode()
        if func == "json":   # the docker CLI's json function: an Encoder without HTML escaping
            return json.dumps(None if value is _NO_VALUE else value, separators=(",", ":"), ensure_ascii=False)
        if func in ("upper", "lower"):
            return getattr(go_value(value), func)()
        return go_value(value)

    for action in re.findall(r"\{\{.*?\}\}", template, re.DOTALL):
        if not _ACTION.fullmatch(action):
            # printed as it stood or half-evaluated ({{range .Config.Env}}{{.}}{{end}} gave the
            # whole object), where the docker CLI runs it: refused, not a wrong answer
            raise InvalidParameter(f"template: {action} is not supported by dockyard's --format "
                                   "(a path, json, upper, lower); the docker CLI through "
                                   "`dockyard serve` takes every Go template")
    return _ACTION.sub(substitute, template)


_ACTION = re.compile(r'\{\{\s*(?:(json|upper|lower)\s+)?(\.[\w.]*)(?:\s+("(?:[^"\\]|\\.)*"))?\s*\}\}')


class _Row(dict):
    """A list's row as the docker CLI's template sees it: {{json .}} is its context's MarshalJSON,
    Go's json.Marshal of a map (keys in order, `<`, `>` and `&` escaped)."""


def write_rows(out: TextIO, fmt: str, rows: Sequence[dict[str, Any]], header: Sequence[str],
               keys: Sequence[str], headers: dict[str, str] | None = None,
               methods: Callable[[dict[str, Any]], dict[str, Callable[[str], str]]] | None = None) -> None:
    """`--format`: `table` (the default columns), `json` (one object per line), a template, or
    `table TEMPLATE`: the template's cells (split at tabs) under a header made of the columns'
    names (`headers`: field -> name, beyond the default columns'; a method's header is its
    argument, as the docker CLI's), aligned as a table. `methods(row)` gives a row's methods."""
    if fmt == "json":
        write_json_lines(out, rows)
        return
    if fmt.strip() in ("table", ""):
        write_table(out, header, [[str(r[k]) for k in keys] for r in rows])
        return
    each = [(_Row(sorted(r.items())), methods(r) if methods else None) for r in rows]
    if fmt.startswith("table"):
        template = fmt[len("table"):].strip()
        names = {**dict(zip(keys, header)), **(headers or {})}
        title = render_template(template, names, {m: (lambda arg: arg) for m in (methods({}) if methods else {})})
        cells = [render_template(template, row, own).split("\t") for row, own in each]
        write_table(out, title.split("\t"), cells)
    else:
        out.write("".join(render_template(fmt, row, own) + "\n" for row, own in each))
