"""Dockerfile text -> a list of `Node`s (one per instruction) with line numbers.

Follows Docker's parser (moby/buildkit `frontend/dockerfile/parser`): parser directives at the
very top, comments, blank lines, line continuations with the escape character (comment and
blank lines inside a continuation are skipped), builder flags (`--x=y` words right after the
keyword), the per-instruction argument syntax (JSON array or shell form, `k=v` pairs, words),
and heredocs for RUN/COPY/ADD (also under ONBUILD).

No instruction semantics here: `instructions.py` turns nodes into typed instructions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from dockyard.dataclass import dataclass, field
from dockyard.dockerfile.shell import GO_SPACE, ShellError, ShellLex, go_strip
from dockyard.errors import DockerfileError, go_quote

__all__ = [
    "Heredoc",
    "Node",
    "ParseResult",
    "parse_nodes",
    "parse_heredoc_word",
    "decode_dockerfile",
    "MAX_LINE_BYTES",
    "MAX_FILE_BYTES",
    "KNOWN_DIRECTIVES",
]

KNOWN_DIRECTIVES = ("syntax", "escape", "check")
# Go's bufio.Scanner refuses a line longer than 64 KiB - 1; Docker reports it as an error.
MAX_LINE_BYTES = 64 * 1024 - 1
# Not a Docker limit: a Dockerfile larger than this is almost surely not a Dockerfile.
MAX_FILE_BYTES = 32 * 1024 * 1024

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
# compiled when first used (re's cache): not at each start of a Dockerfile without directives
_DIRECTIVE = r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$"
_SPACE_SET = frozenset(GO_SPACE)
_HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})


@dataclass(slots=True)
class Heredoc:
    """A here-document attached to an instruction (`<<EOF` ... `EOF`)."""

    name: str
    content: str = ""
    expand: bool = True  # False when any part of the delimiter word was quoted
    chomp: bool = False  # `<<-`: leading tabs are stripped from the content lines
    fd: int = 0  # `3<<EOF` -> 3 (0 when absent)


@dataclass(slots=True)
class Node:
    """One instruction as the parser sees it, before any semantics."""

    keyword: str  # as written (any case)
    original: str  # the joined logical line, before flag extraction
    args: list[str]
    flags: list[str]
    json: bool  # arguments came from a JSON array
    start_line: int
    end_line: int
    heredocs: list[Heredoc] = field(default_factory=list)
    child: Node | None = None  # ONBUILD's trigger instruction


@dataclass(slots=True)
class ParseResult:
    """The parser's output: the instruction nodes, the directives and the escape character."""

    nodes: list[Node]
    directives: dict[str, str]
    escape: str
    line_count: int
    warnings: list[str] = field(default_factory=list)


def decode_dockerfile(data: bytes | str, filename: str) -> str:
    """Bytes -> text with a clear error for binary or oversized input."""
    if isinstance(data, str):
        text = data
        size = len(text)
    else:
        if not isinstance(data, bytes):
            data = bytes(data)  # bytearray, memoryview
        size = len(data)
        if size > MAX_FILE_BYTES:
            raise DockerfileError(
                f"{filename}: file is too large to be a Dockerfile ({size} bytes, limit {MAX_FILE_BYTES})"
            )
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            raise DockerfileError.located(filename, line, "file is not UTF-8 text", "text") from None
    if size > MAX_FILE_BYTES:
        raise DockerfileError(
            f"{filename}: file is too large to be a Dockerfile ({size} chars, limit {MAX_FILE_BYTES})"
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DockerfileError.located(filename, line, "file is not text (contains a NUL byte)", "text")
    return text


class _Directives:
    """Parser directives: only in the leading run of `# key=value` comment lines."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.done = False
        self.values: dict[str, str] = {}
        self.escape = "\\"
        self.continuation = _continuation_regex("\\")

    def feed(self, line: str, lineno: int) -> None:
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        m = re.match(_DIRECTIVE, line[1:].lstrip(GO_SPACE))
        if not m:
            self.done = True
            return
        key = m.group(1).lower()
        if key not in KNOWN_DIRECTIVES:
            self.done = True
            return
        if key in self.values:
            raise DockerfileError.located(self.filename, lineno, f"only one {key} parser directive can be used",
                                            "text")
        value = m.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError.located(
                    self.filename, lineno, f"invalid escape token '{value}' does not match ` or \\", "text")
            self.escape = value
            self.continuation = _continuation_regex(value)
        self.values[key] = value


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _is_comment(line: str) -> bool:
    return line.lstrip(GO_SPACE).startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def parse_nodes(text: str, filename: str = "Dockerfile") -> ParseResult:
    """Split Dockerfile text into instruction nodes. Raises DockerfileError (file:line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # text ended with a newline
        ends = True
    else:
        ends = False
    total = len(lines)
    for idx, ln in enumerate(lines):
        if len(ln) > MAX_LINE_BYTES and len(ln.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
            raise DockerfileError.located(
                filename, idx + 1, f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}", "text")
    d = _Directives(filename)
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0
    while i < total:
        raw = lines[i]
        first = _trim_newline(raw).lstrip(GO_SPACE)
        d.feed(first, i + 1)
        i += 1
        start = i
        if first.startswith("#"):
            continue
        body, eol = _trim_continuation(first, d)
        if eol and body == "":
            continue
        parts = [body]
        empty_continuation = False
        while not eol and i < total:
            raw = lines[i]
            stripped = _trim_newline(raw)
            d.feed(stripped, i + 1)
            i += 1
            if _is_comment(raw):
                continue
            if stripped.lstrip(GO_SPACE) == "":
                empty_continuation = True  # Docker warns, still accepts
                continue
            body, eol = _trim_continuation(stripped, d)
            parts.append(body)
        line = "".join(parts)
        if empty_continuation:
            warnings.append(f"Empty continuation line found in:\n    {line}")
        try:
            node = _node_from_line(line, d.escape)
        except DockerfileError as err:
            raise DockerfileError.located(filename, start, err.message, "text") from None
        node.start_line = start
        target = node.child if node.child is not None else node
        if _can_contain_heredoc(target) and "<<" in line:
            try:
                docs = _heredocs_from_line(line)
            except ShellError as err:
                raise DockerfileError.located(filename, start, err.message, "text") from None
            for doc in docs:
                content: list[str] = []
                terminated = False
                while i < total:
                    raw = lines[i]
                    i += 1
                    candidate = _trim_newline(raw)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(raw + "\n" if (i < total or ends) else raw)
                if not terminated:
                    raise DockerfileError.located(filename, start, "unterminated heredoc", "text")
                doc.content = "".join(content)
                node.heredocs.append(doc)
        node.end_line = i
        if node.child is not None:
            node.child.start_line, node.child.end_line = node.start_line, node.end_line
            node.child.heredocs = node.heredocs
        nodes.append(node)
    if not nodes:
        if text == "":
            # dockerd checks this before parsing: "the Dockerfile (Dockerfile) cannot be empty"
            raise DockerfileError.located(filename, 1, f"the Dockerfile ({filename}) cannot be empty", "document")
        raise DockerfileError.located(filename, total, "file with no instructions", "text")
    return ParseResult(
        nodes=nodes, directives=dict(d.values), escape=d.escape, line_count=total, warnings=warnings
    )


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    m = d.continuation.search(line)
    if m:
        return line[: m.start()] + (m.group(1) or ""), False
    return line, True


def _can_contain_heredoc(node: Node) -> bool:
    return node.keyword.lower() in _HEREDOC_INSTRUCTIONS and not node.json


# -- one logical line -> node ---------------------------------------------------------


def _node_from_line(line: str, escape: str) -> Node:
    keyword, flags, rest = _split_command(line, escape)
    kw = keyword.lower()
    node = Node(keyword=keyword, original=line, args=[], flags=flags, json=False, start_line=0, end_line=0)
    parse = _DISPATCH.get(kw)
    if parse is None:
        return node  # unknown instruction: reported by instructions.py, after the whole file parsed
    parse(node, rest, escape)
    return node


def _split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(go_strip(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, go_strip(rest)


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words; quotes and escapes inside them are processed."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos] in _SPACE_SET:
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        word: list[str] = []
        blank_ok = False
        quote = ""
        while pos < n:
            ch = line[pos]
            if quote:
                if ch == quote:
                    quote = ""
                    pos += 1
                    continue
                if ch == escape:
                    if pos + 1 == n:
                        quote = ""
                        pos += 1
                        continue
                    pos += 1
                    ch = line[pos]
                word.append(ch)
                pos += 1
                continue
            if ch in _SPACE_SET:
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
        text = "".join(word)
        if pos < n and text == "--":
            return line[pos:], words
        if text != "--" and (blank_ok or text):
            words.append(text)
        if pos >= n:
            return "", words


def _parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words keeping quotes and escapes (expanded later)."""
    words: list[str] = []
    word: list[str] = []
    blank_ok = False
    quote = ""
    in_word = False
    pos = 0
    n = len(rest)
    while pos < n:
        ch = rest[pos]
        if not in_word:
            if ch in _SPACE_SET:
                pos += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch in _SPACE_SET:
            if blank_ok or word:
                words.append("".join(word))
            word = []
            blank_ok = False
            in_word = False
            pos += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        if ch == escape:
            if pos + 1 == n:
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


class _NotJSON(Exception):
    pass


class _NotStringArray(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _NotJSON(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJSON(text)  # Go's encoding/json refuses numbers beyond float64
    return value


def _parse_json(rest: str) -> list[str]:
    rest = rest.lstrip(GO_SPACE)
    if not rest.startswith("["):
        raise _NotJSON(rest)
    try:
        # The reference dockerd (20.10) reads the first JSON value and ignores what follows it
        # (`CMD ["a"] x` is exec form ["a"]); buildkit >= 0.9 would call that shell form.
        value, _end = _JSON.raw_decode(rest)
    except (ValueError, _NotJSON, RecursionError):
        raise _NotJSON(rest) from None
    if not isinstance(value, list):
        raise _NotJSON(rest)
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _NotStringArray()
        # Go replaces lone surrogates from \ud800 escapes with U+FFFD.
        if any("\ud800" <= c <= "\udfff" for c in item):
            item = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in item)
        out.append(item)
    return out


_JSON = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_finite_float)
_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


def _maybe_json(node: Node, rest: str, escape: str) -> None:
    """RUN, CMD, ENTRYPOINT, SHELL: a JSON array of strings, else the raw text (shell form)."""
    if rest == "":
        return
    try:
        node.args = _parse_json(rest)
        node.json = True
    except _NotStringArray:
        raise DockerfileError(_NOT_STRINGS) from None
    except _NotJSON:
        node.args = [rest]


def _maybe_json_to_list(node: Node, rest: str, escape: str) -> None:
    """ADD, COPY, VOLUME: a JSON array of strings, else whitespace-separated words."""
    try:
        node.args = _parse_json(rest)
        node.json = True
    except _NotStringArray:
        raise DockerfileError(_NOT_STRINGS) from None
    except _NotJSON:
        _whitespace_words(node, rest, escape)


def _whitespace_words(node: Node, rest: str, escape: str) -> None:
    if rest == "":
        return
    node.args = _WHITESPACE.split(rest)


def _string(node: Node, rest: str, escape: str) -> None:
    if rest != "":
        node.args = [rest]


def _name_val(keyword: str) -> Callable[[Node, str, str], None]:
    def parse(node: Node, rest: str, escape: str) -> None:
        words = _parse_words(rest, escape)
        if not words:
            return
        if "=" not in words[0]:
            # The old form: KEY name value-with-spaces
            parts = _WHITESPACE.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise DockerfileError(f"{keyword} must have two arguments")
            node.args = [parts[0], parts[1], ""]
            return
        args: list[str] = []
        for word in words:
            if "=" not in word:
                raise DockerfileError(
                    f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
                )
            key, value = word.split("=", 1)
            args += [key, value, "="]
        node.args = args

    return parse


def _name_or_name_val(node: Node, rest: str, escape: str) -> None:
    node.args = _parse_words(rest, escape)


def _health(node: Node, rest: str, escape: str) -> None:
    sep = 0
    while sep < len(rest) and not rest[sep] in _SPACE_SET:
        sep += 1
    if sep == 0:
        return
    nxt = sep
    while nxt < len(rest) and rest[nxt] in _SPACE_SET:
        nxt += 1
    typ = rest[:sep]
    sub = Node(keyword="", original="", args=[], flags=[], json=False, start_line=0, end_line=0)
    _maybe_json(sub, rest[nxt:], escape)
    node.args = [typ, *sub.args]
    node.json = sub.json


def _sub_command(node: Node, rest: str, escape: str) -> None:
    if rest == "":
        return
    child = _node_from_line(rest, escape)
    node.child = child
    node.args = [child.keyword, *child.args]


_DISPATCH = {
    "add": _maybe_json_to_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_to_list,
    "entrypoint": _maybe_json,
    "env": _name_val("ENV"),
    "expose": _whitespace_words,
    "from": _whitespace_words,
    "healthcheck": _health,
    "label": _name_val("LABEL"),
    "maintainer": _string,
    "onbuild": _sub_command,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_to_list,
    "workdir": _string,
}


# -- heredocs -----------------------------------------------------------------------------

_HEREDOC_LEX_PLAIN = ShellLex("\\", skip_unset_env=True)
_HEREDOC_LEX_RAW = ShellLex("\\", raw_quotes=True, skip_unset_env=True)
_LINE_LEX = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)


def parse_heredoc_word(word: str) -> Heredoc | None:
    """`<<EOF`, `<<-"EOF"`, `3<<'X'`... -> a Heredoc (no content), else None."""
    m = _HEREDOC_WORD.match(word)
    if not m:
        return None
    rest = m.group(3)
    if rest == "":
        return None
    words = _HEREDOC_LEX_PLAIN.process_words(rest, {})
    if len(words) != 1:
        return None
    raw = _HEREDOC_LEX_RAW.process_words(rest, {})
    if len(raw) != 1:
        raise ShellError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]

    def quotes(s: str) -> int:
        return s.count("'") + s.count('"')

    return Heredoc(
        name=name,
        expand=quotes(name) == quotes(raw[0]),
        chomp=m.group(2) == "-",
        fd=int(m.group(1)) if m.group(1) else 0,
    )


def _heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = _LINE_LEX.process_words(line, {})
    except ShellError:
        words = []
    docs = []
    for word in words:
        doc = parse_heredoc_word(word)
        if doc is not None:
            docs.append(doc)
    return docs
