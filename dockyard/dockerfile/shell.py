"""The Dockerfile variable-expansion lexer (a small subset of a POSIX shell word).

Behaves as Docker's (moby/buildkit `frontend/dockerfile/shell`): `$VAR`, `${VAR}` and the
modifiers `:-  -  :+  +  :?  ?  #  ##  %  %%  /  //`, single and double quotes, the escape
character (backslash or backtick), and splitting into words after expansion.

`ShellLex.process_word` returns one string (quotes removed, spaces kept);
`ShellLex.process_words` returns the words (split on unquoted whitespace, including whitespace
that came out of a variable's value). Errors are `ShellError` (a `DockerfileError` without a
location; callers prefix file and line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dockyard.dataclass import dataclass, field
from dockyard.errors import DockerfileError, go_quote

__all__ = ["ShellError", "ShellLex", "GO_SPACE", "go_strip"]

# The characters Go's unicode.IsSpace accepts (Python's str.isspace also accepts \x1c-\x1f).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE_SET = frozenset(GO_SPACE)


def go_strip(s: str) -> str:
    """strings.TrimSpace."""
    return s.strip(GO_SPACE)

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ShellError(DockerfileError):
    """A word that cannot be expanded (bad substitution, unterminated quote...)."""


@dataclass
class _Words:
    """Accumulates words the way Docker splits an expanded word."""

    words: list[str] = field(default_factory=list)
    word: str = ""
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if ch in _SPACE_SET:
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.word += ch
            self.in_word = True

    def add_raw(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Scanner:
    """One pass over one word; state of a single process_word call."""

    def __init__(self, lex: ShellLex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    # -- the main loop -----------------------------------------------------------------

    def process_until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._process_until(stop)
        finally:
            self.raw_escapes = saved

    def _process_until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        esc = self.lex.escape
        quotes = not self.lex.skip_process_quotes
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(result), words.result()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_string(value)
            elif quotes and ch == "'":
                value = self.single_quote()
                result.append(value)
                words.add_raw(value)
            elif quotes and ch == '"':
                value = self.double_quote()
                result.append(value)
                words.add_raw(value)
            else:
                self.pos += 1
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def single_quote(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        raw = self.lex.raw_quotes
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise ShellError("unexpected end of statement while looking for matching single-quote")
        body = self.text[self.pos : end]
        self.pos = end + 1
        return f"'{body}'" if raw else body

    def double_quote(self) -> str:
        # Literal except $ (expanded) and the escape character before " $ or itself.
        raw = self.lex.raw_quotes
        esc = self.lex.escape
        out: list[str] = ['"'] if raw else []
        self.pos += 1
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                if raw:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == _EOF:
                    continue
                if nxt in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        start = self.pos
        text = self.text
        if self.pos < len(text):
            ch = text[self.pos]
            if ch.isdecimal():
                while self.pos < len(text) and text[self.pos].isdecimal():
                    self.pos += 1
                return text[start : self.pos]
            if ch in _SPECIAL_PARAMS:
                self.pos += 1
                return ch
        while self.pos < len(text):
            ch = text[self.pos]
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            self.pos += 1
        return text[start : self.pos]

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        self.pos += 1  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.pos += 1  # the {
        ch = self.peek()
        if ch == _EOF:
            raise ShellError("syntax error: missing '}'")
        if ch in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self.name()
        op = self.next() or "\ufffd"  # Go prints the EOF rune as U+FFFD
        if op == "}":
            value, found = self.lookup(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if op == "/":
            return self.replace(name)
        null_is_unset = False
        ops = op
        if op == ":":
            null_is_unset = True
            op = self.next() or "\ufffd"
            ops += op
            kind = op
        else:
            kind = op
        if op not in ("+", "-", "?", "#", "%") and not null_is_unset:
            raise ShellError(f"unsupported modifier ({ops}) in substitution")
        try:
            word, _ = self.process_until("}", raw_escapes=kind in ("#", "%"))
        except ShellError:
            if self.peek() == _EOF:
                raise ShellError("syntax error: missing '}'") from None
            raise
        value, found = self.lookup(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + ops + word + "}"
        empty = null_is_unset and value == ""
        if kind == "-":
            return word if (not found or empty) else value
        if kind == "+":
            return "" if (not found or empty) else word
        if kind == "?":
            if not found:
                raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
            if empty:
                raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if kind in ("#", "%"):
            greedy = word.startswith(kind)
            if greedy:
                word = word[1:]
            if kind == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise ShellError(f"unsupported modifier ({ops}) in substitution")

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern, _ = self.process_until("/", raw_escapes=True)
        except ShellError:
            if self.peek() == _EOF:
                raise ShellError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process_until("}", raw_escapes=True)
        except ShellError:
            if self.peek() == _EOF:
                raise ShellError("syntax error: missing '}'") from None
            raise
        value, found = self.lookup(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            template = _go_template(replacement)
            return regex.sub(lambda _m: template, value)
        m = regex.search(value)
        if m:
            value = value[: m.start()] + replacement + value[m.end() :]
        return value


def _go_template(repl: str) -> str:
    """Go's Regexp.ReplaceAllString expands `$name`/`${name}` in the replacement; our
    patterns have no groups, so every reference is empty and `$$` is a literal `$`."""
    if "$" not in repl:
        return repl
    out: list[str] = []
    i = 0
    while i < len(repl):
        ch = repl[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if repl[i + 1 : i + 2] == "$":
            out.append("$")
            i += 2
            continue
        if repl[i + 1 : i + 2] == "{":
            end = repl.find("}", i + 2)
            ref = repl[i + 2 : end] if end > 0 else ""
            if end > 0 and ref and all(c.isalnum() or c == "_" for c in ref):
                i = end + 1
                continue
            out.append("$")
            i += 1
            continue
        j = i + 1
        while j < len(repl) and (repl[j].isalnum() or repl[j] == "_"):
            j += 1
        if j == i + 1:
            out.append("$")
            i += 1
            continue
        i = j
    return "".join(out)


_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (`*`, `?`, backslash escapes; no brackets) as a regex."""
    out: list[str] = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if out and out[-1] == star:
                continue  # `**` matches what `*` matches; avoid stacking backtracking wildcards
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < n else ""
            if nxt in ("}", "/"):
                continue
            if nxt not in ("*", "?", "\\"):
                raise ShellError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append("\\" + nxt)
            i += 1
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each `\\x` escape pair in order."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy, anchored=True).search(value)
    return value[m.end() :] if m else value


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Shortest/longest rightmost match == leftmost match on the reversed strings.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


@dataclass(frozen=True)
class ShellLex:
    """Docker's word lexer for one escape character (`\\` or a backtick)."""

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_process_quotes: bool = False
    skip_unset_env: bool = False

    def _process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        scanner = _Scanner(self, word, env)
        try:
            return scanner.process_until(_EOF, self.raw_escapes)
        except ShellError as err:
            raise ShellError(f"failed to process {go_quote(word)}: {err.message}") from None

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand `word` into one string (quotes removed, whitespace kept)."""
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand `word` and split it into words on unquoted whitespace."""
        return self._process(word, env)[1]
