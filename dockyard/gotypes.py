"""A JSON request body checked against the Go struct dockerd decodes it into, with the error Go's
encoding/json gives when a value has the wrong type: `json: cannot unmarshal string into Go struct
field NetworkCreateRequest.Labels of type map[string]string`. dockerd answers such a body with
that message and changes nothing; so does dockyard, instead of failing inside a handler.

A struct is a `GoStruct` (its Go name and its fields' types); a field's type is a Go type name:
`string`, `bool`, the integer types, `struct {}`, `[]T` and `map[string]T` of those, Docker's
`strslice.StrSlice` (a string or a list of strings), or a `GoStruct`, a `GoSlice` of one, or a `GoMap` of either. A
Go type with a name of its own is written `name=go type` (`nat.PortSet=map[string]struct {}`):
the name is the one the error shows. As Go does, a field's name matches exactly or else whatever its
case, `null` leaves any field as it is, and unknown fields are ignored.

Also `go_atoi`: an integer read as dockerd reads its query parameters (Go's strconv.Atoi)."""

from __future__ import annotations

import re
from typing import Any, Union

from dockyard.errors import DockyardError, InvalidParameter, go_quote

_INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1), "uint64": (0, (1 << 64) - 1),
    "uint32": (0, (1 << 32) - 1), "uint16": (0, (1 << 16) - 1), "uint": (0, (1 << 64) - 1),
}


class GoStruct:
    def __init__(self, name: str, go_type: str, fields: dict[str, "GoType"]) -> None:
        self.name = name          # the struct's name in Go's error: `IPAMConfig`
        self.go_type = go_type    # its type as a field of it is named: `network.IPAMConfig`
        self.fields = fields
        self._folded = {key.casefold(): key for key in fields}

    def field(self, key: str) -> str | None:
        return key if key in self.fields else self._folded.get(key.casefold())


class GoSlice:
    def __init__(self, element: GoStruct, go_type: str | None = None) -> None:
        self.element = element
        self.go_type = go_type or "[]" + element.go_type   # `[]*units.Ulimit` for pointers


class GoMap:
    """map[string]T of a struct (or of a slice of one)."""

    def __init__(self, element: GoStruct | GoSlice, go_type: str) -> None:
        self.element = element
        self.go_type = go_type


GoType = Union[str, GoStruct, GoSlice, GoMap]


def check(body: dict[str, Any], struct: GoStruct) -> None:
    """Raise InvalidParameter with Go's message for the first value (in the body's order) that
    Go could not decode into `struct`."""
    _struct(body, struct, [])


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _kind_of(go_type: str) -> str:
    """The JSON kind a value of `go_type` is written as."""
    if go_type.startswith("[]"):
        return "array"
    if go_type.startswith("map[") or go_type == "struct {}":
        return "object"
    return "string" if go_type == "string" else "bool" if go_type == "bool" else "number"


def _fail(value: Any, struct: GoStruct, path: list[str], go_type: str, literal: bool = False) -> None:
    what = f"number {value}" if literal else _kind(value)
    raise InvalidParameter(f"json: cannot unmarshal {what} into Go struct field "
                           f"{struct.name}.{'.'.join(path)} of type {go_type}")


def _struct(value: dict[str, Any], struct: GoStruct, path: list[str]) -> None:
    for key, item in value.items():
        name = struct.field(key)
        if name is not None:
            _value(item, struct.fields[name], struct, [*path, name])


def _value(value: Any, go_type: GoType, struct: GoStruct, path: list[str]) -> None:
    if value is None:
        return
    if isinstance(go_type, str) and "=" in go_type:
        name, _, underlying = go_type.partition("=")
        if _kind(value) != _kind_of(underlying):
            _fail(value, struct, path, name)
        if underlying in _INT_RANGES:
            low, high = _INT_RANGES[underlying]
            if isinstance(value, float) or not low <= value <= high:
                _fail(value, struct, path, name, literal=True)
            return
        go_type = underlying
    if isinstance(go_type, GoStruct):
        if not isinstance(value, dict):
            _fail(value, struct, path, go_type.go_type)
        _struct(value, go_type, path)
    elif isinstance(go_type, GoMap):
        if not isinstance(value, dict):
            _fail(value, struct, path, go_type.go_type)
        for item in value.values():
            _value(item, go_type.element, struct, path)
    elif isinstance(go_type, GoSlice):
        if not isinstance(value, list):
            _fail(value, struct, path, go_type.go_type)
        for item in value:
            _value(item, go_type.element, struct, path)
    elif go_type == "strslice.StrSlice":
        # its UnmarshalJSON takes a list of strings, else one string: Go names the last it tried
        if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            _fail(value, struct, path, "string")
    elif go_type == "struct {}":
        if not isinstance(value, dict):
            _fail(value, struct, path, go_type)
    elif go_type.startswith("[]"):
        if not isinstance(value, list):
            _fail(value, struct, path, go_type)
        for item in value:
            _value(item, go_type[2:], struct, path)
    elif go_type.startswith("map[string]"):
        if not isinstance(value, dict):
            _fail(value, struct, path, go_type)
        for item in value.values():
            _value(item, go_type[len("map[string]"):], struct, path)
    elif go_type in _INT_RANGES:
        if _kind(value) != "number":
            _fail(value, struct, path, go_type)
        low, high = _INT_RANGES[go_type]
        if isinstance(value, float) or not low <= value <= high:
            _fail(value, struct, path, go_type, literal=True)
    elif go_type == "string" and not isinstance(value, str) or \
            go_type == "bool" and not isinstance(value, bool):
        _fail(value, struct, path, go_type)


_ATOI = re.compile(r"[+-]?[0-9]+")  # Go's strconv.Atoi: a sign and ASCII digits, nothing else


def go_atoi(text: str) -> int:
    """An integer parameter read as dockerd reads it (strconv.Atoi, 64 bits), which Python's
    int() is not: int() also takes "1_0", spaces around the digits and non-ASCII digits. A bad
    value is dockerd's unclassified error: 500 with Go's words."""
    if not _ATOI.fullmatch(text):
        raise DockyardError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(1 << 63) <= value < 1 << 63:
        raise DockyardError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value
