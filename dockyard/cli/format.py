"""Output formatting as the docker CLI does it: tables, human sizes and durations."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TextIO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.govalues import Context


def go_time(moment: datetime | None) -> str:
    """Go's time.Time String() in UTC, as `--format json` shows CreatedAt."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


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
    """Go's tabwriter as the docker CLI sets it up for a list: minwidth 10, padding 3, spaces."""
    write_tabbed(out, [list(header)] + [list(r) for r in rows], 10, 3)


def write_tabbed(out: TextIO, rows: Sequence[Sequence[str]], minwidth: int, padding: int) -> None:
    """Go's tabwriter (spaces): every cell but a line's last padded to its column's width, at
    least `minwidth`; an empty last cell keeps the padding before it, as Go's."""
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell))
    for row in rows:
        out.write("".join(cell.ljust(max(widths[i] + padding, minwidth)) for i, cell in enumerate(row[:-1]))
                  + (row[-1] if row else "") + "\n")


def write_json_lines(out: TextIO, objects: Sequence[dict[str, Any]]) -> None:
    for obj in objects:
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")


def write_json_indented(out: TextIO, data: Any) -> None:
    """`docker inspect` output: a JSON array, 4-space indent, no HTML escaping."""
    out.write(json.dumps(data, indent=4, ensure_ascii=False) + "\n")


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
        raise LookupError(name)


def write_rows(out: TextIO, fmt: str, rows: Sequence[dict[str, Any]], header: Sequence[str],
               keys: Sequence[str], context: Context | None = None, headers: dict[str, str] | None = None,
               methods: Callable[[dict[str, Any]], dict[str, Callable[..., str]]] | None = None) -> None:
    """`--format`: `table` (the default columns), `json` (one object per line), a template, or
    `table TEMPLATE`: the template's cells (split at tabs) under a header made of the columns'
    names (`headers`: field -> name, beyond the default columns'; a method's header is its
    argument, as the docker CLI's), aligned as a table. A row is the docker CLI's `context` (its
    fields are the row's keys); `methods(row)` gives a row's methods that take arguments. As the
    docker CLI's formatter: `\\t` and `\\n` are a tab and a newline, a template that does not
    parse or run on a row is `template parsing error: ...` and nothing is printed."""
    if fmt == "json":
        write_json_lines(out, rows)
        return
    if fmt.strip() in ("table", ""):
        write_table(out, header, [[str(r[k]) for k in keys] for r in rows])
        return
    from dockyard.cli.gotemplate import TemplateError, parse
    from dockyard.cli.govalues import Context, row_context

    if context is None:   # a list of dockyard's own (image waste): its rows' keys
        context = row_context("row", list(rows))
    table = fmt.startswith("table")
    text = (fmt[len("table"):] if table else fmt).strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    try:
        template = parse(text)
        lines = [template.execute(row, context, methods=methods(row) if methods else None) for row in rows]
    except TemplateError as exc:
        raise TemplateError(f"template parsing error: {exc}") from None
    if not table:
        out.write("".join(line + "\n" for line in lines))
        return
    # the header: the template run on the columns' names, a name it lacks `<no value>`, each
    # method giving its argument; as the docker CLI, an error there is not one
    names = {**dict(zip(keys, header)), **(headers or {})}
    header_context = Context(context.name, set(names), context.methods, header=True)
    try:
        title = template.execute(names, header_context, methods={m: (lambda arg: arg) for m in context.methods})
    except TemplateError:
        title = ""
    write_table(out, title.split("\t"), [line.split("\t") for line in lines])
