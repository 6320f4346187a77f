"""Go's text/template as the docker CLI 20.10 runs a --format template: its lexer (whose errors
are Go's, `template: :1: unclosed action`), a parser of the subset dockyard runs (text, comments,
trim markers, and an action of one command: a field chain or `.`, a string, `json`/`upper`/
`lower` of one such argument, a row's method with a string argument), and an executor over typed
values, whose errors are Go's too: `template: :1:2: executing "" at <.Nope>: can't evaluate field
Nope in type *formatter.ContainerContext`.

Types: the docker CLI runs a template on Go values, so what a field is and how it prints comes
from its Go type, not from the JSON: a nil []string prints `[]`, a nil map `map[]`, a nil pointer
`<nil>`, a struct `{a b c}`, a field the struct lacks is an error. A type here is a scalar's name
(`string`, `int`, `bool`, `time.Time`), a `Struct`, `Ptr`, `Slice`, `Map`, a `Context` (a list's
row: the docker CLI's formatter contexts, whose fields are methods returning strings), or None:
a JSON value as decoded into an interface{}, the inspect's raw fallback (`map has no entry for
key`). What dockyard does not run (range, if, variables, pipes, other functions) is refused with
one line, not answered wrongly; the docker CLI through `dockyard serve` runs every template."""

from __future__ import annotations

import json
from typing import Any, Callable

from dockyard.errors import InvalidParameter


class TemplateError(InvalidParameter):
    """A template Go could not parse (`parse`) or execute (`execute`), in Go's words; `partial`:
    what the execution wrote before it failed (Go writes as it goes)."""

    partial = ""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code   # 64 where the docker CLI refuses a template it cannot parse


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


# -- lexer ---------------------------------------------------------------------------------------
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with"}
# the functions a docker CLI template may name (its own and text/template's); dockyard runs three
_FUNCTIONS = {"json", "split", "join", "title", "lower", "upper", "pad", "truncate", "and", "call", "html",
              "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq",
              "ge", "gt", "le", "lt", "ne"}
_RUN = {"json", "upper", "lower"}


def _is_space(c: str) -> bool:
    return c in " \t\r\n"


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdigit()


def _char(c: str) -> str:
    """Go's %#U."""
    return f"U+{ord(c):04X} '{c}'" if c.isprintable() else f"U+{ord(c):04X}"


class _Item:
    __slots__ = ("kind", "pos", "val", "line")

    def __init__(self, kind: str, pos: int, val: str, line: int) -> None:
        self.kind, self.pos, self.val, self.line = kind, pos, val, line

    def __str__(self) -> str:   # Go's item.String()
        if self.kind == "eof":
            return "EOF"
        if self.kind == "error":
            return self.val
        if self.kind in ("keyword", "dot"):
            return f"<{self.val}>"
        if len(self.val) > 10:
            return json.dumps(self.val[:10], ensure_ascii=False) + "..."
        return json.dumps(self.val, ensure_ascii=False)


def _lex(text: str) -> list[_Item]:
    """Go's text/template lexer (delimiters `{{` `}}`): its items up to the first error, which
    is the last item."""
    items: list[_Item] = []
    n, pos = len(text), 0

    def item(kind: str, start: int, end: int) -> None:
        items.append(_Item(kind, start, text[start:end], 1 + text.count("\n", 0, start)))

    def error(message: str, start: int) -> list[_Item]:
        items.append(_Item("error", start, message, 1 + text.count("\n", 0, start)))
        return items

    def at_right(at: int) -> tuple[bool, bool]:
        if at + 1 < n and _is_space(text[at]) and text[at + 1] == "-" and text.startswith("}}", at + 2):
            return True, True
        return text.startswith("}}", at), False

    def at_terminator(at: int) -> bool:
        return at >= n or _is_space(text[at]) or text[at] in ".,|:)(" or text.startswith("}}", at)

    while True:
        left = text.find("{{", pos)
        if left < 0:
            if pos < n:
                item("text", pos, n)
            items.append(_Item("eof", n, "", 1 + text.count("\n")))
            return items
        trim = text.startswith("-", left + 2) and left + 3 < n and _is_space(text[left + 3])
        end = left
        if trim:
            while end > pos and _is_space(text[end - 1]):
                end -= 1
        if end > pos:
            item("text", pos, end)
        pos = left + 2 + (2 if trim else 0)
        if text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            if close < 0:
                return error("unclosed comment", left)
            pos = close + 2
            delim, trim_right = at_right(pos)
            if not delim:
                return error("comment ends before closing delimiter", left)
            pos += 4 if trim_right else 2
            if trim_right:
                while pos < n and _is_space(text[pos]):
                    pos += 1
            continue
        item("left", left, left + 2)
        depth = 0
        while True:
            delim, trim_right = at_right(pos)
            if delim and depth == 0:
                start = pos + (2 if trim_right else 0)
                item("right", start, start + 2)
                pos = start + 2
                if trim_right:
                    while pos < n and _is_space(text[pos]):
                        pos += 1
                break
            if delim:
                return error("unclosed left paren", pos)
            if pos >= n:
                return error("unclosed action", pos)
            c, start = text[pos], pos
            pos += 1
            if _is_space(c):
                while pos < n and _is_space(text[pos]) and not at_right(pos)[1]:
                    pos += 1
                item("space", start, pos)
            elif c == "=":
                item("assign", start, pos)
            elif c == ":":
                if pos >= n or text[pos] != "=":
                    return error("expected :=", start)
                pos += 1
                item("declare", start, pos)
            elif c == "|":
                item("pipe", start, pos)
            elif c in "\"`'":
                while True:
                    if pos >= n or (c != "`" and text[pos] == "\n"):
                        return error({'"': "unterminated quoted string", "`": "unterminated raw quoted string",
                                      "'": "unterminated character constant"}[c], start)
                    if c != "`" and text[pos] == "\\":
                        pos += 2
                        continue
                    pos += 1
                    if text[pos - 1] == c:
                        break
                item({'"': "string", "`": "rawstring", "'": "char"}[c], start, pos)
            elif c == "$" or (c == "." and not (pos < n and text[pos].isdigit()) and pos < n):
                if at_terminator(pos):
                    item("variable" if c == "$" else "dot", start, pos)
                    continue
                while pos < n and _is_alnum(text[pos]):
                    pos += 1
                if not at_terminator(pos):
                    return error(f"bad character {_char(text[pos])}", start)
                item("variable" if c == "$" else "field", start, pos)
            elif c in "+-." or c.isdigit():
                pos = _scan_number(text, start)
                if pos < 0:
                    return error(f"bad number syntax: {json.dumps(text[start:-pos], ensure_ascii=False)}", start)
                item("number", start, pos)
            elif _is_alnum(c):
                while pos < n and _is_alnum(text[pos]):
                    pos += 1
                if not at_terminator(pos):
                    return error(f"bad character {_char(text[pos])}", start)
                word = text[start:pos]
                item("keyword" if word in _KEYWORDS else "bool" if word in ("true", "false") else "identifier",
                     start, pos)
            elif c == "(":
                depth += 1
                item("lparen", start, pos)
            elif c == ")":
                depth -= 1
                if depth < 0:
                    return error(f"unexpected right paren {_char(c)}", start)
                item("rparen", start, pos)
            elif c.isascii() and c.isprintable():
                item("char", start, pos)
            else:
                return error(f"unrecognized character in action: {_char(c)}", start)


def _scan_number(text: str, pos: int) -> int:
    """Go's lexer.scanNumber: the end of the number at `pos`, or -end where it is bad."""
    n = len(text)

    def accept(chars: str) -> bool:
        nonlocal pos
        if pos < n and text[pos] in chars:
            pos += 1
            return True
        return False

    def run(chars: str) -> None:
        nonlocal pos
        while pos < n and text[pos] in chars:
            pos += 1

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        digits = ("0123456789abcdefABCDEF_" if accept("xX") else "01234567_" if accept("oO")
                  else "01_" if accept("bB") else digits)
    run(digits)
    if accept("."):
        run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        run("0123456789_")
    accept("i")
    if pos < n and _is_alnum(text[pos]):
        return -(pos + 1)
    return pos


def _go_number(text: str) -> bool:
    """Whether Go's parser takes the lexer's number (a literal: `.` alone is not one)."""
    digits = text.replace("_", "").lower().lstrip("+-")
    try:
        if digits.endswith("i"):
            complex(digits[:-1] + "j")
        elif digits.startswith("0x"):
            float.fromhex(digits)
        elif digits.startswith(("0o", "0b")):
            int(digits, 0)
        else:
            float(digits)
    except ValueError:
        return False
    return True


# -- parser --------------------------------------------------------------------------------------
class _Arg:
    """An operand: `.` (path ()), a field chain (path, its node's position and text), or a
    string."""

    __slots__ = ("path", "pos", "text", "string")

    def __init__(self, path: tuple[str, ...] | None, pos: int, text: str, string: str | None = None) -> None:
        self.path, self.pos, self.text, self.string = path, pos, text, string


class _Action:
    """`{{func target args...}}`: func is json, upper, lower or None; args are a method's."""

    __slots__ = ("func", "target", "args")

    def __init__(self, func: str | None, target: _Arg, args: list[_Arg]) -> None:
        self.func, self.target, self.args = func, target, args


class Template:
    def __init__(self, text: str, name: str = "") -> None:
        self.text, self.name = text, name   # the template's name shows in its errors
        self.nodes: list[str | _Action] = []
        items = _lex(text)
        i = 0
        while i < len(items):
            it = items[i]
            if it.kind == "text":
                self.nodes.append(it.val)
            elif it.kind == "error":
                self._fail(it, it.val)
            elif it.kind == "left":
                end = i + 1
                while items[end].kind not in ("right", "error", "eof"):
                    end += 1
                self.nodes.append(self._action(items[i + 1:end + 1], it))
                i = end
            i += 1

    def _fail(self, item: _Item, message: str) -> None:
        raise TemplateError(f"template: {self.name}:{item.line}: {message}")

    def _refuse(self, left: _Item, items: list[_Item]) -> None:
        source = "{{" + "".join(it.val if it.kind != "space" else " " for it in items[:-1]).strip() + "}}"
        raise TemplateError(f"template: {source} is not supported by dockyard's --format (a path, json, "
                            "upper, lower); the docker CLI through `dockyard serve` takes every Go template")

    def _action(self, items: list[_Item], left: _Item) -> _Action:
        """One action's items (up to its right delimiter or the lexer's error): Go's errors where
        Go's parser meets them first, else the subset's command."""
        words = [it for it in items if it.kind != "space"]
        if words[0].kind in ("keyword", "variable") or any(it.kind in ("pipe", "lparen", "declare", "assign")
                                                             for it in words):
            self._check_functions(words)
            self._refuse(left, items)
        operands: list[_Arg] = []
        func: str | None = None
        k = 0
        while True:
            it = words[k]
            if it.kind in ("right", "error", "eof"):
                if it.kind == "error":
                    self._fail(it, it.val)
                if not operands and func is None:
                    self._fail(it, "missing value for command")
                break
            if it.kind == "identifier":
                if it.val not in _FUNCTIONS:
                    self._fail(it, f'function "{it.val}" not defined')
                if operands or func is not None or it.val not in _RUN:
                    self._check_functions(words[k:])
                    self._refuse(left, items)
                func = it.val
            elif it.kind == "dot":
                operands.append(_Arg((), it.pos, "."))
            elif it.kind == "field":
                path, pos = [it.val[1:]], it.pos
                while words[k + 1].kind == "field" and words[k + 1].pos == words[k].pos + len(words[k].val):
                    k += 1
                    if len(path) == 1:
                        pos = words[k].pos
                    path.append(words[k].val[1:])
                operands.append(_Arg(tuple(path), pos, "." + ".".join(path)))
                if words[k + 1].kind == "dot" and words[k + 1].pos == words[k].pos + len(words[k].val):
                    self._fail(words[k + 1], f"unexpected {words[k + 1]} in operand")
            elif it.kind in ("string", "rawstring"):
                try:
                    value = json.loads(it.val) if it.kind == "string" else it.val[1:-1]
                except ValueError:
                    self._fail(it, "invalid syntax")
                operands.append(_Arg(None, it.pos, it.val, value))
            elif it.kind == "number":
                if not _go_number(it.val):
                    self._fail(it, f"illegal number syntax: {json.dumps(it.val)}")
                self._refuse(left, items)
            else:
                self._refuse(left, items)
            k += 1
        if func is not None and len(operands) != 1 or func is None and operands[0].path is None and len(operands) > 1:
            self._refuse(left, items)
        if func is None and len(operands) > 1 and any(a.path is not None for a in operands[1:]):
            self._refuse(left, items)
        return _Action(func, operands[0], operands[1:])

    def _check_functions(self, words: list[_Item]) -> None:
        for it in words:
            if it.kind == "error":
                self._fail(it, it.val)
            if it.kind == "identifier" and it.val not in _FUNCTIONS:
                self._fail(it, f'function "{it.val}" not defined')

    # -- execution -------------------------------------------------------------------------------
    def execute(self, root: Any, kind: Any = None, *, missing_error: bool = False,
                methods: dict[str, Callable[..., str]] | None = None) -> str:
        """The template run on `root` of Go type `kind` (None: a value decoded from JSON into an
        interface{}; `missing_error`: Go's missingkey=error for its maps, as the docker CLI's
        inspect falls back to). `methods`: a Context row's methods that take arguments."""
        out = []
        for node in self.nodes:
            if isinstance(node, str):
                out.append(node)
                continue
            try:
                out.append(self._run(node, root, kind, missing_error, methods or {}))
            except _Failed as failed:
                line = 1 + self.text.count("\n", 0, failed.node.pos)
                column = failed.node.pos - (self.text.rfind("\n", 0, failed.node.pos) + 1)
                error = TemplateError(f'template: {self.name}:{line}:{column}: executing "{self.name}" at '
                                      f"<{failed.node.text}>: {failed.message}")
                error.partial = "".join(out)
                raise error from None
        return "".join(out)

    def _run(self, action: _Action, root: Any, kind: Any, missing_error: bool,
             methods: dict[str, Callable[..., str]]) -> str:
        target = action.target
        if target.path is None:
            value, vkind = target.string, "string"
        else:
            value, vkind = _walk(target, root, kind, missing_error, action.args, methods)
        if action.func == "json":
            return _json(value, vkind)
        text = format_value(value, vkind)
        return text.upper() if action.func == "upper" else text.lower() if action.func == "lower" else text


class _Failed(Exception):
    def __init__(self, node: _Arg, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def _walk(arg: _Arg, value: Any, kind: Any, missing_error: bool, args: list[_Arg],
          methods: dict[str, Callable[..., str]]) -> tuple[Any, Any]:
    assert arg.path is not None
    for i, name in enumerate(arg.path):
        final = i == len(arg.path) - 1
        given = len(args) if final else 0
        value, kind = _field(arg, value, kind, name, missing_error, given,
                             [a.string for a in args] if final else [], methods)
    if args and not arg.path:
        raise _Failed(arg, "can't give argument to non-function .")
    return value, kind


def _field(node: _Arg, value: Any, kind: Any, name: str, missing_error: bool, given: int,
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
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_value(value: Any, kind: Any = None, depth: int = 0) -> str:
    """A value as text/template prints it (fmt's %v of its Go type): `[a b]`, `map[k:v]`,
    `{a b}`, `<nil>`, `<no value>`."""
    if value is NO_VALUE:
        return "<no value>"
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


def parse(text: str, name: str = "") -> Template:
    return Template(text, name)
