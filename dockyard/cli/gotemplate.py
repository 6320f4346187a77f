"""Go's text/template (1.19, the docker CLI 20.10's) as the CLI runs a --format template: its
lexer and parser (whose errors are Go's, `template: :1: unclosed action`, `unexpected {{end}}`),
and an executor of all its actions (if/else if/else, with, range with break/continue, variables,
pipelines, parentheses, define/template/block, comments, trim markers) and functions (the docker
CLI's json, split, join, title, lower, upper, pad, truncate; Go's and, or, not, len, index, slice,
print, printf, println, eq, ne, lt, le, gt, ge, html, js, urlquery) over typed values, whose
errors are Go's too: `template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type
*formatter.ContainerContext`, `error calling index: index out of range: 5`.

The Go values it runs on, their types and printing: dockyard.cli.govalues. A value in the
executor is a pair (value, type); a map ranges in sorted key order."""

from __future__ import annotations

import json
from typing import Any, Callable

from dockyard.cli.govalues import (_STRINGS, _ZERO, NO_VALUE, Context, Map, Ptr, Slice, Struct, _Failed, _field,
                                   _go_float, _json, format_value, type_name)
from dockyard.errors import InvalidParameter


class TemplateError(InvalidParameter):
    """A template Go could not parse (`parse`) or execute (`execute`), in Go's words; `partial`:
    what the execution wrote before it failed (Go writes as it goes)."""

    partial = ""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code   # 64 where the docker CLI refuses a template it cannot parse


# -- lexer ---------------------------------------------------------------------------------------
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with"}
# the functions a docker CLI template may name (its own and text/template's); dockyard runs three
_FUNCTIONS = {"json", "split", "join", "title", "lower", "upper", "pad", "truncate", "and", "call", "html",
              "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq",
              "ge", "gt", "le", "lt", "ne"}


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
                item("rparen", start, pos)
                if depth < 0:
                    return error(f"unexpected right paren {_char(c)}", start)
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
class _Node:
    """A node of Go's parse tree: `kind` (field, variable, chain, dot, nil, bool, number,
    string, ident, pipe), its position, and its text as Go prints it in an error (`<.A.B>`)."""

    __slots__ = ("kind", "pos", "text", "path", "value", "node", "cmds", "decl", "assign", "is_int")

    def __init__(self, kind: str, pos: int, text: str, **attrs: Any) -> None:
        self.kind, self.pos, self.text = kind, pos, text
        self.path: tuple[str, ...] = ()
        self.value: Any = None
        self.node: _Node | None = None
        self.cmds: list[_Cmd] = []
        self.decl: list[str] = []
        self.assign = self.is_int = False
        for name, value in attrs.items():
            setattr(self, name, value)


class _Cmd:
    __slots__ = ("pos", "args")

    def __init__(self, pos: int) -> None:
        self.pos, self.args = pos, []   # type: list[_Node]

    @property
    def text(self) -> str:
        return " ".join(_node_text(a) for a in self.args)


def _node_text(node: _Node) -> str:
    return "(" + _pipe_text(node) + ")" if node.kind == "pipe" else node.text


def _pipe_text(pipe: _Node) -> str:
    decl = ", ".join(pipe.decl) + (" = " if pipe.assign else " := ") if pipe.decl else ""
    return decl + " | ".join(c.text for c in pipe.cmds)


class _Control:
    """`{{if}}`, `{{with}}`, `{{range}}` (pipe, list, else list), `{{break}}`, `{{continue}}`."""

    __slots__ = ("kind", "pipe", "body", "orelse")

    def __init__(self, kind: str, pipe: _Node | None = None, body: list | None = None,
                 orelse: list | None = None) -> None:
        self.kind, self.pipe, self.body, self.orelse = kind, pipe, body or [], orelse


class _Parser:
    """Go's text/template/parse (1.19, the docker 20.10 CLI's) over the lexer's items."""

    def __init__(self, template: "Template", items: list[_Item]) -> None:
        self.t, self.items, self.i = template, items, 0
        self.vars = ["$"]
        self.range_depth = 0
        self.last = items[0]
        self.action_line = 0

    def next(self) -> _Item:
        item = self.items[min(self.i, len(self.items) - 1)]
        self.i += 1
        self.last = item
        return item

    def peek(self) -> _Item:
        return self.items[min(self.i, len(self.items) - 1)]

    def next_non_space(self) -> _Item:
        item = self.next()
        while item.kind == "space":
            item = self.next()
        return item

    def peek_non_space(self) -> _Item:
        item = self.next_non_space()
        self.i -= 1
        return item

    def error(self, message: str) -> None:
        raise TemplateError(f"template: {self.t.name}:{self.last.line}: {message}")

    def unexpected(self, item: _Item, context: str) -> None:
        if item.kind == "error":
            extra = (f" in action started at {self.t.name}:{self.action_line}"
                     if self.action_line and self.action_line != item.line else "")
            self.error(f"{item}{extra}")
        self.error(f"unexpected {item} in {context}")

    def template_name(self, item: _Item, context: str) -> str:
        if item.kind not in ("string", "rawstring"):
            self.unexpected(item, context)
        return _unquote(item.val) if item.kind == "string" else item.val[1:-1]

    def define(self, name: str, context: str, expect_right: bool = True) -> None:
        """`{{define "name"}}...{{end}}` (or a block's body): a template of the set."""
        if expect_right:
            self.expect("right", context)
        outer, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = outer
        if end[0] != "end":
            self.error(f"unexpected {end[1]} in {context}")
        self.t.defined[name] = body

    def parse(self) -> list:
        nodes: list = []
        while self.peek().kind != "eof":
            if self.peek().kind == "left":
                start = self.i
                self.next()
                word = self.next_non_space()
                if word.kind == "keyword" and word.val == "define":
                    self.define(self.template_name(self.next_non_space(), "define clause"), "define clause")
                    continue
                self.i = start
            node = self.text_or_action()
            if isinstance(node, tuple):
                self.error(f"unexpected {node[1]}")
            if node is not None:
                nodes.append(node)
        return nodes

    def item_list(self) -> tuple[list, tuple]:
        nodes: list = []
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, tuple):
                return nodes, node
            if node is not None:
                nodes.append(node)
        self.error("unexpected EOF")
        raise AssertionError

    def text_or_action(self) -> Any:
        item = self.next_non_space()
        if item.kind == "text":
            return item.val
        if item.kind == "left":
            self.action_line = item.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(item, "input")

    def action(self) -> Any:
        item = self.next_non_space()
        if item.kind == "keyword":
            word = item.val
            if word in ("if", "with", "range"):
                return self.control(word)
            if word == "else":
                if self.peek_non_space().kind == "keyword" and self.peek_non_space().val == "if":
                    return ("else", "{{else}}")
                self.expect("right", "else")
                return ("else", "{{else}}")
            if word == "end":
                self.expect("right", "end")
                return ("end", "{{end}}")
            if word in ("break", "continue"):
                after = self.next_non_space()
                if after.kind != "right":
                    self.unexpected(after, "{{%s}}" % word)
                if not self.range_depth:
                    self.error(f"{{{{{word}}}}} outside {{{{range}}}}")
                return _Control(word)
            if word in ("template", "block"):
                token = self.next_non_space()
                context = word + " clause"
                name = self.template_name(token, context)
                pipe = None
                if word == "block" or self.next_non_space().kind != "right":
                    if word == "template":
                        self.i -= 1
                    pipe = self.pipeline(context, "right")
                if word == "block":
                    self.define(name, context, expect_right=False)
                text = "{{template " + token.val + (" " + pipe.text if pipe is not None else "") + "}}"
                return _Control("template", pipe, [name, _Node("template", token.pos, text)])
        self.i -= 1
        return _Control("action", self.pipeline("command", "right"))

    def expect(self, kind: str, context: str) -> _Item:
        item = self.next_non_space()
        if item.kind != kind:
            self.unexpected(item, context)
        return item

    def control(self, word: str) -> _Control:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(word, "right")
            if word == "range":
                self.range_depth += 1
            body, end = self.item_list()
            if word == "range":
                self.range_depth -= 1
            orelse = None
            if end[0] == "else":
                following = self.peek()
                if word == "if" and following.kind == "keyword" and following.val == "if":
                    self.next()
                    orelse = [self.control("if")]
                else:
                    orelse, end = self.item_list()
                    if end[0] != "end":
                        self.error(f"expected end; found {end[1]}")
            return _Control(word, pipe, body, orelse)
        finally:
            del self.vars[mark:]

    def pipeline(self, context: str, end: str) -> _Node:
        pipe = _Node("pipe", self.peek_non_space().pos, "")
        while self.peek_non_space().kind == "variable":
            start = self.i
            var = self.next()
            following = self.peek_non_space()
            if following.kind in ("assign", "declare"):
                pipe.assign = following.kind == "assign"
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
            elif following.kind == "char" and following.val == ",":
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("variable", "right", "rparen"):
                        continue
                    self.error("range can only initialize variables")
                self.error(f"too many declarations in {context}")
            else:
                self.i = start
            break
        while True:
            item = self.next_non_space()
            if item.kind == end:
                if not pipe.cmds:
                    self.error(f"missing value for {context}")
                for k, cmd in enumerate(pipe.cmds[1:]):
                    if cmd.args[0].kind in ("bool", "dot", "nil", "number", "string"):
                        self.error(f"non executable command in pipeline stage {k + 2}")
                pipe.text = _pipe_text(pipe)
                return pipe
            if item.kind in ("bool", "char", "dot", "field", "identifier", "number", "rawstring", "string",
                             "variable", "lparen") or item.kind == "keyword" and item.val == "nil":
                if item.kind == "char" and not item.val.startswith("'"):
                    self.unexpected(item, context)
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                self.unexpected(item, context)

    def command(self) -> _Cmd:
        cmd = _Cmd(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            item = self.next()
            if item.kind == "space":
                continue
            if item.kind in ("right", "rparen"):
                self.i -= 1
            elif item.kind != "pipe":
                self.unexpected(item, "operand")
            break
        if not cmd.args:
            self.error("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        pos, fields = self.peek().pos, []
        while self.peek().kind == "field":
            fields.append(self.next().val[1:])
        if node.kind in ("field", "variable"):
            path = node.path + tuple(fields)
            return _Node(node.kind, pos, node.text + "." + ".".join(fields), path=path, value=node.value)
        if node.kind in ("bool", "string", "number", "nil", "dot"):
            self.error(f"unexpected . after term {json.dumps(node.text)}")
        return _Node("chain", pos, _node_text(node) + "." + ".".join(fields), path=tuple(fields), node=node)

    def term(self) -> _Node | None:
        item = self.next_non_space()
        kind, val = item.kind, item.val
        if kind == "identifier":
            if val not in _FUNCTIONS:
                self.error(f'function "{val}" not defined')
            return _Node("ident", item.pos, val)
        if kind == "dot":
            return _Node("dot", item.pos, ".")
        if kind == "keyword" and val == "nil":
            return _Node("nil", item.pos, "nil")
        if kind == "variable":
            if val not in self.vars:
                self.error(f'undefined variable "{val}"')
            return _Node("variable", item.pos, val, value=val)
        if kind == "field":
            return _Node("field", item.pos, val, path=(val[1:],))
        if kind == "bool":
            return _Node("bool", item.pos, val, value=val == "true")
        if kind == "number" or kind == "char" and val.startswith("'"):
            return self.number(item)
        if kind == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if kind in ("string", "rawstring"):
            try:
                value = _unquote(val) if kind == "string" else val[1:-1]
            except ValueError:
                self.error("invalid syntax")
            return _Node("string", item.pos, val, value=value)
        self.i -= 1
        return None

    def number(self, item: _Item) -> _Node:
        text = item.val
        if text.startswith("'"):
            return _Node("number", item.pos, text, value=ord(_unquote('"' + text[1:-1] + '"')), is_int=True)
        if not _go_number(text):
            self.error(f"illegal number syntax: {json.dumps(text)}")
        import re

        digits = text.replace("_", "").lower()
        if digits.endswith("i"):
            self.error(f"complex constants are not supported by dockyard's --format: {text}")
        value: Any
        if re.fullmatch(r"[+-]?0[0-7]+", digits):
            value = int(digits, 8)
        else:
            try:
                value = int(digits, 0)
            except ValueError:
                body = digits.lstrip("+-")
                value = float.fromhex(body) if body.startswith("0x") else float(body)
                value = -value if digits[0] == "-" else value
        return _Node("number", item.pos, text, value=value, is_int=value == int(value))


def _unquote(text: str) -> str:
    """Go's strconv.Unquote of a double-quoted string (its escapes are JSON's, plus \\a \\v \\x \\0oo)."""
    import re

    def escape(match: "re.Match[str]") -> str:
        s = match.group(0)
        simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                  '"': '"', "'": "'"}
        c = s[1]
        if c in simple:
            return simple[c]
        if c in "xuU":
            return chr(int(s[2:], 16))
        if c in "01234567":
            return chr(int(s[1:], 8))
        raise ValueError(s)

    body = text[1:-1]
    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", escape, body)


class Template:
    def __init__(self, text: str, name: str = "") -> None:
        self.text, self.name = text, name   # the template's name shows in its errors
        self.defined: dict[str, list] = {}   # {{define "name"}}'s
        self.nodes = _Parser(self, _lex(text)).parse()

    # -- execution -------------------------------------------------------------------------------
    def execute(self, root: Any, kind: Any = None, *, missing_error: bool = False,
                methods: dict[str, Callable[..., str]] | None = None) -> str:
        """The template run on `root` of Go type `kind` (None: a value decoded from JSON into an
        interface{}; `missing_error`: Go's missingkey=error for its maps, as the docker CLI's
        inspect falls back to). `methods`: a Context row's methods that take arguments."""
        state = _State(self, (root, kind), missing_error, methods or {})
        try:
            state.walk((root, kind), self.nodes)
        except _Failed as failed:
            line = 1 + self.text.count("\n", 0, failed.node.pos)
            column = failed.node.pos - (self.text.rfind("\n", 0, failed.node.pos) + 1)
            error = TemplateError(f'template: {self.name}:{line}:{column}: executing "{state.name}" at '
                                  f"<{failed.node.text}>: {failed.message}")
            error.partial = "".join(state.out)
            raise error from None
        return "".join(state.out)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_MISSING = object()   # no final argument (Go's missingVal)
Value = tuple  # (value, kind)


class _State:
    """Go's exec.state: the output, the variables' stack, the node an error is reported at."""

    def __init__(self, template: Template, root: Value, missing_error: bool,
                 methods: dict[str, Callable[..., str]]) -> None:
        self.out: list[str] = []
        self.vars: list[tuple[str, Value]] = [("$", root)]
        self.missing_error, self.methods = missing_error, methods
        self.node: Any = None
        self.template, self.name = template, template.name

    def fail(self, message: str) -> None:
        raise _Failed(self.node, message)

    def walk(self, dot: Value, nodes: list) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif node.kind == "action":
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.node = node.pipe
                    self.out.append(format_value(*value))
            elif node.kind in ("if", "with"):
                mark = len(self.vars)
                value = self.pipeline(dot, node.pipe)
                if _truth(*value):
                    self.walk(value if node.kind == "with" else dot, node.body)
                elif node.orelse is not None:
                    self.walk(dot, node.orelse)
                del self.vars[mark:]
            elif node.kind == "range":
                self.walk_range(dot, node)
            elif node.kind == "template":
                self.walk_template(dot, node)
            elif node.kind == "break":
                raise _Break
            else:
                raise _Continue

    def walk_template(self, dot: Value, node: _Control) -> None:
        name = node.body[0]
        self.node = node.body[1]
        if name not in self.template.defined:
            self.fail(f'template "{name}" not defined')
        value = self.pipeline(dot, node.pipe) if node.pipe is not None else (None, None)
        outer = self.vars, self.name
        self.vars, self.name = [("$", value)], name
        self.walk(value, self.template.defined[name])
        self.vars, self.name = outer

    def walk_range(self, dot: Value, node: _Control) -> None:
        mark = len(self.vars)
        value, kind = self.pipeline(dot, node.pipe)
        if isinstance(kind, Ptr) and value is not None:
            kind = kind.elem
        inner = len(self.vars)
        pairs: list[tuple[Value, Value]] = []
        if isinstance(value, list) and not isinstance(kind, (Map, Struct, Context)):
            elem = kind.elem if isinstance(kind, Slice) else None
            pairs = [((i, "int"), (v, elem)) for i, v in enumerate(value)]
        elif isinstance(value, dict) and (isinstance(kind, Map) or kind is None):
            elem = kind.elem if isinstance(kind, Map) else None
            pairs = [((k, "string"), (value[k], elem)) for k in sorted(value)]
        elif value is None and isinstance(kind, (Slice, Map)) or value is NO_VALUE or value is None and kind is None:
            pass
        else:
            self.node = node.pipe
            self.fail(f"range can't iterate over {format_value(value, kind)}")
        try:
            for index, elem in pairs:
                if node.pipe.decl:
                    name = self.vars[-1][0]
                    self.vars[-1] = (name, elem)
                if len(node.pipe.decl) > 1:
                    self.vars[-2] = (self.vars[-2][0], index)
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                del self.vars[inner:]
        except _Break:
            pass
        if not pairs and node.orelse is not None:
            self.walk(dot, node.orelse)
        del self.vars[mark:]

    def pipeline(self, dot: Value, pipe: _Node) -> Value:
        self.node = pipe
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
            if value[1] is None and value[0] is None:   # an interface{} holding nil: no value
                value = (NO_VALUE, None)
        for name in pipe.decl:
            if pipe.assign:
                for k in range(len(self.vars) - 1, -1, -1):
                    if self.vars[k][0] == name:
                        self.vars[k] = (name, value)
                        break
                else:
                    self.fail(f"undefined variable: {name}")
            else:
                self.vars.append((name, value))
        return value

    def command(self, dot: Value, cmd: _Cmd, final: Any) -> Value:
        first = cmd.args[0]
        if first.kind == "field":
            self.node = first
            return self.chain(dot, dot, first, first.path, cmd.args, final)
        if first.kind == "chain":
            self.node = first
            if first.node.kind == "nil":
                self.fail(f"indirection through explicit nil in {first.text}")
            base = self.arg(dot, first.node)
            self.node = first
            return self.chain(dot, base, first, first.path, cmd.args, final)
        if first.kind == "ident":
            return self.call(dot, first, cmd, cmd.args[1:], final)
        if first.kind == "pipe":
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        if first.kind == "variable":
            self.node = first
            value = self.variable(first.value)
            if not first.path:
                self.not_a_function(cmd.args, final)
                return value
            return self.chain(dot, value, first, first.path, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if first.kind == "nil":
            self.fail("nil is not a command")
        if first.kind == "dot":
            return dot
        return _literal(first)

    def not_a_function(self, args: list[_Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            self.fail(f"can't give argument to non-function {_node_text(args[0])}")

    def variable(self, name: str) -> Value:
        for k in range(len(self.vars) - 1, -1, -1):
            if self.vars[k][0] == name:
                return self.vars[k][1]
        self.fail(f"undefined variable: {name}")
        raise AssertionError

    def chain(self, dot: Value, receiver: Value, node: _Node, path: tuple[str, ...], args: list[_Node],
              final: Any) -> Value:
        value, kind = receiver
        for i, name in enumerate(path):
            last = i == len(path) - 1
            strings: list[Any] = []
            if last and (len(args) > 1 or final is not _MISSING):
                if isinstance(kind, Context) and name in kind.methods:
                    strings = [self.arg(dot, a)[0] for a in args[1:]]
                    self.node = node
                else:
                    strings = [None] * (len(args) - 1)
                if final is not _MISSING:
                    strings.append(final[0])
            value, kind = _field(node, value, kind, name, self.missing_error, len(strings), strings,
                                 self.methods)
        return value, kind

    def arg(self, dot: Value, node: _Node) -> Value:
        """An argument's value (Go's evalEmptyInterface)."""
        self.node = node
        if node.kind == "dot":
            return dot
        if node.kind == "nil":
            return None, None
        if node.kind in ("field", "chain", "variable", "ident"):
            cmd = _Cmd(node.pos)
            cmd.args = [node]
            return self.command(dot, cmd, _MISSING)
        if node.kind == "pipe":
            return self.pipeline(dot, node)
        return _literal(node)

    def call(self, dot: Value, ident: _Node, cmd: _Cmd, args: list[_Node], final: Any) -> Value:
        name = ident.text
        self.node = ident
        fixed, variadic, func = _BUILTINS[name]
        given = len(args) + (final is not _MISSING)
        if variadic and given < fixed:
            self.fail(f"wrong number of args for {name}: want at least {fixed} got {len(args)}")
        if not variadic and given != fixed:
            self.fail(f"wrong number of args for {name}: want {fixed} got {given}")
        if name in ("and", "or"):
            value: Value = (None, None)
            for node in args:
                value = self.arg(dot, node)
                if _truth(*value) == (name == "or"):
                    return value
            return final if final is not _MISSING else value
        values = [self.arg(dot, node) for node in args] + ([final] if final is not _MISSING else [])
        if name in _STRING_ARGS:
            for k, (node, (value, kind)) in enumerate(zip(args + [ident], values)):
                want = _STRING_ARGS[name][k] if k < len(_STRING_ARGS[name]) else "string"
                got = _go_type(value, kind)
                if want == "[]string" and isinstance(kind, Slice) and kind.elem == "string":
                    got = want   # a named []string (strslice.StrSlice) is assignable to []string
                if want == "int" and node.kind == "number" and not node.is_int or \
                        want == "int" and node.kind == "string":
                    self.node = node
                    self.fail(f"expected integer; found {node.text}")
                if want == "string" and node.kind in ("number", "bool"):
                    self.node = node
                    self.fail(f"expected string; found {node.text}")
                if want == "[]string" and node.kind in ("number", "bool", "string"):
                    self.node = node
                    self.fail(f"can't handle {node.text} for arg of type []string")
                if got != want:
                    self.node = node if k < len(args) else ident
                    self.fail(f"wrong type for value; expected {want}; got {got}")
        try:
            return func(*values)
        except _GoError as error:
            self.node = cmd
            self.fail(f"error calling {name}: {error}")
        raise AssertionError


class _GoError(Exception):
    """A function's error value (`error calling index: ...`)."""


def _literal(node: _Node) -> Value:
    if node.kind == "bool":
        return node.value, "bool"
    if node.kind == "string":
        return node.value, "string"
    return node.value, ("int" if node.is_int and isinstance(node.value, int) else "float64")


def _go_type(value: Any, kind: Any) -> str:
    """The dynamic Go type of a value (an interface{}'s: what JSON decoded into)."""
    if kind is not None:
        return type_name(kind)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "json.Number"   # the docker CLI's inspect decodes its JSON with UseNumber
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "interface {}"


def _truth(value: Any, kind: Any) -> bool:
    """Go's isTrue: the zero value, an empty string, slice or map, a nil pointer are false."""
    if value is NO_VALUE or value is None:
        return False
    if isinstance(kind, Struct) or isinstance(kind, Context):
        return True
    if isinstance(value, (str, list, dict, bool)):
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    return True


def _basic(value: Any, kind: Any) -> str:
    """Go's basicKind for a comparison ("invalid" where it has none)."""
    go = _go_type(value, kind)
    if go == "bool":
        return "bool"
    if go in ("int", "int64", "int32", "uint8", "uint16", "uint32", "uint64"):
        return "int"
    if go in ("float64", "float32"):
        return "float"
    if go in ("string", "json.Number"):
        return "string"
    return "invalid"


def _zero(value: Any, kind: Any) -> bool:
    """An invalid reflect.Value after indirectInterface: no value, or an interface{} holding nil."""
    return value is NO_VALUE or value is None and kind is None


def _eq(first: Value, *others: Value) -> Value:
    """Go 1.19's eq: no value equals nothing and is no error; slices and maps cannot be compared."""
    if not _zero(*first) and (isinstance(first[1], (Slice, Map)) or first[1] is None
                              and isinstance(first[0], (list, dict))):
        raise _GoError(f"uncomparable type {_go_type(*first)}: {format_value(*first)}")
    if not others:
        raise _GoError("missing argument for comparison")
    k1 = _basic(*first) if not _zero(*first) else "zero"
    for other in others:
        k2 = _basic(*other) if not _zero(*other) else "zero"
        if k1 != k2:
            if not _zero(*first) and not _zero(*other):
                raise _GoError("incompatible types for comparison")
        elif k1 == "zero" or (str(first[0]) if k1 == "string" else first[0]) == \
                (str(other[0]) if k1 == "string" else other[0]):
            return True, "bool"
    return False, "bool"


def _compare(op: str) -> Callable[[Value, Value], Value]:
    def less(a: Value, b: Value) -> bool:
        k1, k2 = _basic(*a), _basic(*b)
        if "invalid" in (k1, k2):
            raise _GoError("invalid type for comparison")
        if k1 != k2:
            raise _GoError("incompatible types for comparison")
        if k1 == "bool":
            raise _GoError("invalid type for comparison")
        return (str(a[0]) < str(b[0])) if k1 == "string" else a[0] < b[0]

    def compare(a: Value, b: Value) -> Value:
        if op in ("lt", "ge"):
            result = less(a, b)
            return (result if op == "lt" else not result), "bool"
        result = less(a, b) or _eq(a, b)[0]
        return (result if op == "le" else not result), "bool"
    return compare


def _index(item: Value, *indexes: Value) -> Value:
    value, kind = item
    if value is NO_VALUE or value is None and kind is None:
        raise _GoError("index of untyped nil")
    for index in indexes:
        if kind is None and isinstance(value, (int, float)) and not isinstance(value, bool):
            value, kind = str(value), "json.Number"   # a string type
        if isinstance(kind, Ptr):
            if value is None:
                raise _GoError("index of nil pointer")
            kind = kind.elem
        if isinstance(kind, Map) or kind is None and isinstance(value, dict):
            if not isinstance(index[0], str) or _go_type(*index) != "string":
                raise _GoError(f"value has type {_go_type(*index)}; should be string")
            if index[0] in (value or {}):
                value, kind = value[index[0]], (kind.elem if kind is not None else None)
            else:   # the map's zero value
                kind = kind.elem if kind is not None else None
                value = _ZERO.get(kind, None) if isinstance(kind, str) else None
        elif isinstance(kind, Slice) or kind is None and isinstance(value, (list, str)) or \
                kind in ("string", "json.Number"):
            if _basic(*index) != "int":
                raise _GoError(f"cannot index slice/array with type {_go_type(*index)}")
            string = isinstance(value, str)
            n = len(value.encode() if string else value or [])
            if not 0 <= index[0] <= n:
                raise _GoError(f"index out of range: {index[0]}")
            if index[0] == n:   # Go checks the index against the length, then reflect panics
                raise _GoError(f"reflect: {'string' if string else 'slice'} index out of range")
            if string:
                value, kind = value.encode()[index[0]], "uint8"
            else:
                value, kind = value[index[0]], (kind.elem if kind is not None else None)
        else:
            raise _GoError(f"can't index item of type {_go_type(value, kind).lstrip('*')}")
    return value, kind


def _slice(item: Value, *indexes: Value) -> Value:
    value, kind = item
    if value is NO_VALUE or value is None and kind is None:
        raise _GoError("slice of untyped nil")
    if len(indexes) > 3:
        raise _GoError(f"too many slice indexes: {len(indexes)}")
    if not (kind == "string" or isinstance(kind, Slice) or kind is None and isinstance(value, (str, list))):
        raise _GoError(f"can't slice item of type {_go_type(value, kind)}")
    if len(indexes) == 3 and isinstance(value, str):
        raise _GoError("cannot 3-index slice a string")
    bounds = [0, len(value or [])]
    for k, index in enumerate(indexes[:2]):
        if _basic(*index) != "int" or not 0 <= index[0] <= len(value or []):
            raise _GoError(f"index out of range: {index[0]}")
        bounds[k] = index[0]
    if bounds[0] > bounds[1]:
        raise _GoError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    return (value or [])[bounds[0]:bounds[1]] if value is not None else None, kind


def _length(item: Value) -> Value:
    value, kind = item
    if isinstance(kind, Ptr):
        if value is None:
            raise _GoError("len of nil pointer")
        kind = kind.elem
    if value is None and isinstance(kind, (Slice, Map)):
        return 0, "int"
    if isinstance(value, (list, dict)) and not isinstance(kind, (Struct, Context)):
        return len(value), "int"
    if isinstance(value, str) and _go_type(value, kind) == "string":
        return len(value.encode()), "int"
    if kind is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return len(str(value)), "int"   # a json.Number is a string
    if value is None and kind is None or value is NO_VALUE:
        raise _GoError("len of nil pointer")
    raise _GoError(f"len of type {_go_type(value, kind).lstrip('*')}")


def _sprint(values: tuple, spaced: bool) -> str:
    """fmt.Sprint (a space between operands where neither is a string) or Sprintln."""
    out = []
    for k, (value, kind) in enumerate(values):
        if k and (spaced or not (_go_type(value, kind) == "string" or _go_type(*values[k - 1]) == "string")):
            out.append(" ")
        out.append(format_value(value, kind, print_nil=True))
    return "".join(out) + ("\n" if spaced else "")


def _printf(form: Value, *values: Value) -> Value:
    """fmt.Sprintf's common verbs: %v %s %d %q %t %x %X %f %e %g %c %T %%, flags, width, precision."""
    import re

    out, k = [], 0
    for match in re.finditer(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])|[^%]+|%$", form[0]):
        text = match.group(0)
        if not text.startswith("%"):
            out.append(text)
            continue
        if text == "%":
            out.append("%!(NOVERB)")
            continue
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if k >= len(values):
            out.append(f"%!{verb}(MISSING)")
            continue
        value, kind = values[k]
        k += 1
        go = _go_type(value, kind)
        if value is NO_VALUE or value is None and kind is None:
            out.append(f"%!{verb}(<nil>)")
            continue
        spec = f"{flags or ''}{width or ''}{'.' + (precision or '0') if precision is not None or '.' in text else ''}"
        if verb == "T":
            out.append("<nil>" if value is None and kind is None else go)
        elif verb in "vs" and not (verb == "s" and go not in ("string",) and not isinstance(value, (list, dict, str))):
            text = ("&" if isinstance(kind, Ptr) else "") + format_value(value, kind, print_nil=True)
            if precision is not None and verb == "s":
                text = text[:int(precision)]
            pad = int(width or 0) - len(text)
            out.append(text + " " * pad if "-" in (flags or "") else " " * pad + text)
        elif verb in "dxXob" and isinstance(value, int) and not isinstance(value, bool) and go != "float64":
            out.append(("%" + spec + verb) % value if verb != "b" else format(value, spec + "b"))
        elif verb in "xX" and isinstance(value, str):
            out.append(value.encode().hex() if verb == "x" else value.encode().hex().upper())
        elif verb in "feEgG" and isinstance(value, float):
            out.append(("%" + spec + verb) % value if precision is not None or verb in "fFeE"
                       else _go_float(value).upper() if verb == "G" else _go_float(value))
        elif verb == "t" and isinstance(value, bool):
            out.append(("%" + spec + "s") % ("true" if value else "false"))
        elif verb == "q" and isinstance(value, str):
            out.append(json.dumps(value, ensure_ascii=False))
        elif verb == "c" and isinstance(value, int):
            out.append(chr(value))
        else:
            out.append(f"%!{verb}({go}={format_value(value, kind, print_nil=True)})")
    if k < len(values):
        out.append("%!(EXTRA " + ", ".join(f"{_go_type(*v)}={format_value(*v, print_nil=True)}"
                                            for v in values[k:]) + ")")
    return "".join(out), "string"


def _string_func(fn: Callable[..., Any], kind: Any = "string") -> Callable[..., Value]:
    return lambda *values: (fn(*(v[0] for v in values)), kind)


def _title(text: str) -> str:
    """strings.Title: each letter that follows a non-letter upper-cased."""
    out, previous = [], " "
    for c in text:
        out.append(c.upper() if not (previous.isalnum() or previous == "_" or previous == "'") else c)
        previous = c
    return "".join(out)


def _html(*values: Value) -> Value:
    table = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\uFFFD"}
    return "".join(table.get(c, c) for c in _sprint(values, False)), "string"


def _urlquery(*values: Value) -> Value:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(values, False), safe=""), "string"


def _js(*values: Value) -> Value:
    text = _sprint(values, False)
    table = {"\\": "\\\\", "'": "\\'", '"': "\\\"", "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D",
             "\n": "\\u000A", "\r": "\\u000D", "\t": "\\u0009"}
    return "".join(table.get(c, c) for c in text), "string"


def _json_func(item: Value) -> Value:
    return _json(*item), "string"


# name: (arguments fixed, variadic, function of Values)
_BUILTINS: dict[str, tuple[int, bool, Callable[..., Value]]] = {
    "json": (1, False, _json_func),
    "split": (2, False, _string_func(lambda s, sep: s.split(sep) if sep else list(s), _STRINGS)),
    "join": (2, False, _string_func(lambda items, sep: sep.join(items or []))),
    "title": (1, False, _string_func(_title)),
    "lower": (1, False, _string_func(str.lower)),
    "upper": (1, False, _string_func(str.upper)),
    "pad": (3, False, _string_func(lambda s, pre, suf: s and " " * pre + s + " " * suf)),
    "truncate": (2, False, _string_func(lambda s, n: s if len(s) < n else s[:n])),
    "and": (1, True, lambda *v: v[-1]), "or": (1, True, lambda *v: v[-1]),
    "not": (1, False, lambda v: (not _truth(*v), "bool")),
    "len": (1, False, _length), "index": (1, True, _index), "slice": (1, True, _slice),
    "print": (0, True, lambda *v: (_sprint(v, False), "string")),
    "println": (0, True, lambda *v: (_sprint(v, True), "string")),
    "printf": (1, True, _printf),
    "eq": (1, True, _eq), "ne": (2, False, lambda a, b: (not _eq(a, b)[0], "bool")),
    "lt": (2, False, _compare("lt")), "le": (2, False, _compare("le")),
    "gt": (2, False, _compare("gt")), "ge": (2, False, _compare("ge")),
    "html": (0, True, _html), "js": (0, True, _js), "urlquery": (0, True, _urlquery),
    "call": (1, True, lambda *v: (_ for _ in ()).throw(_GoError("non-function of type " + _go_type(*v[0])))),
}
# the docker CLI's functions' parameter types (the last repeats for the functions' result check)
_STRING_ARGS = {"split": ("string", "string"), "join": ("[]string", "string"), "title": ("string",),
                "lower": ("string",), "upper": ("string",), "pad": ("string", "int", "int"),
                "truncate": ("string", "int")}


def parse(text: str, name: str = "") -> Template:
    return Template(text, name)
