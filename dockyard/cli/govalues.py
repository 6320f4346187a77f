"""The Go values a docker CLI `--format` template runs on (dockyard.cli.gotemplate runs it): their
types, how Go finds a field of one and how fmt and encoding/json print one. A list command builds
its rows' type (`row_context`) whether or not it was given a template: this module is what it
loads, the template engine loads only with a template.

Types: the docker CLI runs a template on Go values, so what a field is and how it prints comes
from its Go type, not from the JSON: a nil []string prints `[]`, a nil map `map[]`, a nil pointer
`<nil>`, a struct `{a b c}`, a field the struct lacks is an error. A type here is a scalar's name
(`string`, `int`, `bool`, `time.Time`), a `Struct`, `Ptr`, `Slice`, `Map`, a `Context` (a list's
row: the docker CLI's formatter contexts, whose fields are methods returning strings), or None:
a JSON value as decoded into an interface{} (with UseNumber: a number is a json.Number, a
string), the inspect's raw fallback (`map has no entry for key`)."""

from __future__ import annotations

import json
from typing import Any, Callable


# -- types ---------------------------------------------------------------------------------------
class Struct:
    """A Go struct: `fields` (Go name, JSON key, type) in the struct's order. `complete`: every
    field of the Go struct is listed (a name it lacks is an error, and it prints as `{...}`
    unless it `embeds` structs); otherwise a name it does not list is looked up in the JSON
    object, untyped."""

    def __init__(self, name: str, fields: list[tuple[str, str, Any]], complete: bool = True,
                 embeds: bool = False) -> None:
        self.name, self.complete = name, complete
        self.embeds = embeds   # it embeds structs, which Go prints nested: printed as a map here
        self.fields = {go: (key, kind) for go, key, kind in fields}


class Ptr:
    def __init__(self, elem: Any, name: str | None = None) -> None:
        self.elem = elem
        self.name = name or "*" + type_name(elem)


class Slice:
    def __init__(self, elem: Any, name: str | None = None) -> None:
        self.elem = elem
        self.name = name or "[]" + type_name(elem)


class Map:
    """A map keyed by strings: a key it lacks is `<no value>` (text/template's default)."""

    def __init__(self, elem: Any, name: str | None = None) -> None:
        self.elem = elem
        self.name = name or "map[string]" + type_name(elem)


class Context:
    """A list's row as the docker CLI's formatter has it (`*formatter.ContainerContext`): each
    field is a method returning a string; `methods` are those that take string arguments (their
    count), as `Label`."""

    def __init__(self, name: str, fields: frozenset[str] | set[str], methods: dict[str, int] | None = None,
                 header: bool = False) -> None:
        self.name, self.fields, self.methods = name, frozenset(fields), methods or {}
        self.header = header   # the table's header: a map of the columns' names, a name it lacks no value


def row_context(name: str, rows: list[dict[str, Any]], methods: dict[str, int] | None = None) -> Context:
    """The docker CLI's row context `name` whose fields are the rows' keys (every row of a list
    has them all: those of the docker CLI 20.10's context)."""
    return Context(name, set(rows[0]) if rows else set(), methods)


def type_name(kind: Any) -> str:
    if kind is None:
        return "interface {}"
    return kind if isinstance(kind, str) else kind.name


def struct(name: str, spec: str, complete: bool = True, embeds: bool = False, **types: Any) -> Struct:
    """`Struct` from a compact spec: `Name:Key:type, ...` in the struct's order, where Key
    (the JSON key) defaults to Name and a type that is not a scalar's name is one of `types`."""
    fields = []
    for part in spec.split(","):
        bits = part.split(":")
        go, key, kind = bits[0].strip(), (bits[1].strip() if len(bits) > 2 else bits[0].strip()), bits[-1].strip()
        fields.append((go, key, types.get(kind, kind)))
    return Struct(name, fields, complete, embeds)


_STRINGS = Slice("string")
_STRING_MAP = Map("string")
_ZERO = {"string": "", "int": 0, "int64": 0, "uint64": 0, "bool": False, "float64": 0.0}


class _NoValue:
    """What a map lacks, as text/template has it: printed `<no value>`, null through json."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


class _Failed(Exception):
    """An execution error at a node of the template (dockyard.cli.gotemplate adds Go's line,
    column and the node's text)."""

    def __init__(self, node: Any, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def _go_float(value: float) -> str:
    """fmt's %v of a float64 (strconv's 'g', shortest): `1.5`, `1e+06`, `1.2e-05`."""
    from decimal import Decimal

    if value != value or value in (float("inf"), float("-inf")):
        return "NaN" if value != value else "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp = int(exponent) + len(text) - 1
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return format(Decimal(repr(value)).normalize(), "f")


def _field(node: Any, value: Any, kind: Any, name: str, missing_error: bool, given: int,
           args: list[Any], methods: dict[str, Callable[..., str]]) -> tuple[Any, Any]:
    """Go's evalField for one name of a chain."""
    if value is NO_VALUE:   # what a map lacked: no value again, unless that is an error
        if missing_error:
            raise _Failed(node, f'nil data; no entry for key "{name}"')
        return NO_VALUE, None
    if isinstance(kind, Context):
        if kind.header and name not in kind.methods:
            return value.get(name, NO_VALUE), "string"
        wants = kind.methods.get(name, 0 if name in kind.fields else None)
        if wants is None:
            raise _Failed(node, f"can't evaluate field {name} in type {kind.name}")
        if wants != given:
            raise _Failed(node, f"wrong number of args for {name}: want {wants} got {given}")
        return (methods[name](*args) if wants else value[name]), "string"
    if given:
        raise _Failed(node, f"{name} is not a method but has arguments" if isinstance(value, dict)
                      else f"can't evaluate field {name} in type {type_name(kind)}")
    if hasattr(value, "field") and kind is None:   # a legacy GoStruct (format.GoStruct)
        try:
            return value.field(name), None
        except LookupError:
            raise _Failed(node, f"can't evaluate field {name} in type {value.type_name}") from None
    if isinstance(kind, Ptr):
        if value is None:
            elem = kind.elem
            if isinstance(elem, Struct) and (name in elem.fields or not elem.complete):
                raise _Failed(node, f"nil pointer evaluating {kind.name}.{name}")
            raise _Failed(node, f"can't evaluate field {name} in type {kind.name}")
        found = _struct_field(kind.elem, value, name) if isinstance(kind.elem, Struct) else None
        if found is None:
            raise _Failed(node, f"can't evaluate field {name} in type {kind.name}")
        return found
    if isinstance(kind, Struct):
        found = _struct_field(kind, value, name)
        if found is None:
            raise _Failed(node, f"can't evaluate field {name} in type {kind.name}")
        return found
    if isinstance(kind, Map):
        got = (value or {}).get(name, NO_VALUE)
        return got, (kind.elem if got is not NO_VALUE else None)
    if kind is None:
        if isinstance(value, dict):
            if name in value:
                return value[name], None
            if missing_error:
                raise _Failed(node, f'map has no entry for key "{name}"')
            return NO_VALUE, None
        if value is None or value is NO_VALUE:
            raise _Failed(node, f"nil pointer evaluating interface {{}}.{name}")
    raise _Failed(node, f"can't evaluate field {name} in type {type_name(kind)}")


def _struct_field(kind: Struct, value: Any, name: str) -> tuple[Any, Any] | None:
    if name in kind.fields:
        key, field_kind = kind.fields[name]
        got = value.get(key) if isinstance(value, dict) else None
        if got is None and isinstance(field_kind, str):
            got = _ZERO.get(field_kind, got)
        return got, field_kind
    if not kind.complete and isinstance(value, dict) and name in value:
        got = value[name]   # a field not described: a JSON string or bool is Go's string or bool
        return got, "string" if isinstance(got, str) else "bool" if isinstance(got, bool) else None
    return None


def _json(value: Any, kind: Any) -> str:
    """The docker CLI's json function: an Encoder without HTML escaping, its newline cut."""
    if value is NO_VALUE:
        value = None
    elif isinstance(kind, Context):   # a row's MarshalJSON: Go's json.Marshal of a map
        from dockyard.gojson import go_json

        return go_json(dict(sorted(value.items()))).decode()
    elif hasattr(value, "fields") and isinstance(value, dict) and kind is None:   # a legacy GoStruct
        value = dict(value)
    elif isinstance(kind, Map):   # Go marshals a map's keys sorted
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_value(value: Any, kind: Any = None, depth: int = 0, print_nil: bool = False) -> str:
    """A value as text/template prints it (fmt's %v of its Go type): `[a b]`, `map[k:v]`,
    `{a b}`, `<nil>`, `<no value>` (`print_nil`: an argument of print, where no value is nil)."""
    if value is NO_VALUE:
        return "<nil>" if print_nil else "<no value>"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(kind, Ptr):
        if value is None:
            return "<nil>"
        if depth:   # fmt prints a pointer inside a struct, map or slice as its address
            return "0xc000010000"
        return format_value(value, kind.elem, depth)
    if value is None:
        return "[]" if isinstance(kind, Slice) else "map[]" if isinstance(kind, Map) else "<nil>"
    if isinstance(kind, Struct) and kind.complete and not kind.embeds and isinstance(value, dict):
        return "{" + " ".join(format_value(*_struct_field(kind, value, go), depth + 1)   # type: ignore[misc]
                              for go in kind.fields) + "}"
    if kind == "time.Time" and isinstance(value, str):
        return go_time_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        elem = kind.elem if isinstance(kind, Slice) else None
        return "[" + " ".join(format_value(v, elem, depth + 1) for v in value) + "]"
    if hasattr(value, "fields") and isinstance(value, dict):   # a legacy GoStruct (format.GoStruct)
        return "{" + " ".join(format_value(value.field(name), None, depth + 1) for name, _, _ in value.fields) + "}"
    if isinstance(value, dict):
        elem = kind.elem if isinstance(kind, Map) else None
        return "map[" + " ".join(f"{k}:{format_value(v, elem, depth + 1)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def go_time_text(text: str) -> str:
    """An RFC 3339 UTC time (the Engine API's `2026-12-08T01:06:04.963546656Z`) as Go's
    time.Time String() writes it: `2026-12-08 01:06:04.963546656 +0000 UTC` (the fraction's
    trailing zeros dropped); another text is returned as it is."""
    import re

    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z", text)
    if match is None:
        return text
    fraction = (match.group(3) or "").rstrip("0").rstrip(".")
    return f"{match.group(1)} {match.group(2)}{fraction} +0000 UTC"
