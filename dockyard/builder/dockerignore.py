""".dockerignore: reading the file and matching context paths, with Docker's exact semantics.

Reading follows moby/patternmatcher `ignorefile.ReadAll`: a UTF-8 BOM is dropped, a line whose
first character is `#` is a comment (an indented `#` is a pattern), whitespace is trimmed, the
pattern is cleaned like Go's `filepath.Clean` and a leading `/` removed; `!` makes an exception.

Matching follows moby/patternmatcher `PatternMatcher`: each pattern becomes one of four matchers
(exact string, prefix for a trailing `**`, suffix for a leading `**`, or a regular expression
translated from Go's `filepath.Match` syntax plus `**`); patterns are applied in order, the last
one that matches decides; a pattern matching a parent directory matches everything beneath it.
The walk semantics are those of `MatchesUsingParentResults` as used by BuildKit's fsutil walker and
by the classic CLI's archive walker; `matches_or_parent_matches` is the stateless variant.

Quirks kept on purpose because Docker has them: `[!a]` is NOT a negated class (Go's syntax only
negates with `^`), a negated class `[^a]` can match `/`, and a `\\` escape followed by a letter
keeps its regular-expression meaning (`\\d` matches a digit).
"""

from __future__ import annotations

from dockyard.errors import InvalidParameter

TYPE_CHECKING = False  # typing and pathlib stay out of a client-mode CLI's start-up (~3 ms)
if TYPE_CHECKING:
    import os
    import re
    from typing import Iterable

# Go's unicode.IsSpace set, which strings.TrimSpace uses (Python's str.strip differs slightly).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_UTF8_BOM = "\ufeff"
# Escapes whose meaning is the same in Go's regexp and Python's re (with re.ASCII).
_SAME_ESCAPES = set("dDsSwWbBAaftnrv")
# Characters that are regexp syntax but plain in filepath.Match, escaped when translating.
_REGEXP_ONLY = set(".+()|{}$")
# fsutil: an exception containing one of these may re-include anything anywhere.
_PATTERN_CHARS = set("*[]?^\\")


def go_clean(path: str) -> str:
    """Go's path/filepath.Clean on a slash-separated path."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = ("/" if rooted else "") + "/".join(parts)
    return out or "."


def _go_trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


def read_ignore_lines(lines: Iterable[str]) -> list[str]:
    """ignorefile.ReadAll: the raw lines of a .dockerignore -> the list of patterns."""
    patterns: list[str] = []
    for index, line in enumerate(lines):
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):  # bufio.ScanLines drops a trailing CR
            line = line[:-1]
        if index == 0 and line.startswith(_UTF8_BOM):
            line = line[len(_UTF8_BOM):]
        if line.startswith("#"):
            continue
        pattern = _go_trim_space(line)
        if pattern == "":
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = _go_trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def _check_match_syntax(pattern: str) -> None:
    """Raise ValueError where Go's filepath.Match would return ErrBadPattern (Unix rules)."""
    i, n = 0, len(pattern)

    def range_char(j: int) -> int:
        # getEsc: one (possibly escaped) character of a class; something must follow it.
        if j >= n or pattern[j] in "-]":
            raise ValueError
        if pattern[j] == "\\":
            j += 1
            if j >= n:
                raise ValueError
        j += 1
        if j >= n:
            raise ValueError
        return j

    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError
            i += 2
        elif ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = range_char(i)
                if pattern[i] == "-":
                    i = range_char(i + 1)
                ranges += 1
        else:
            i += 1


class _Kind:
    """How a pattern is matched (patternmatcher's matchType): four named constants, not an
    Enum, and re imported only where a pattern becomes a regular expression: a client-mode
    CLI loads this module at every start, and enum with re cost it a fifth of its start."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<_Kind.{self.name}>"

    # one object per kind, as an Enum's members are (patterns compare kinds with `is`): copies
    # and pickles of a pattern keep it
    def __reduce__(self) -> tuple[object, tuple[type, str]]:
        return getattr, (_Kind, self.name)

    def __copy__(self) -> _Kind:
        return self

    def __deepcopy__(self, memo: dict) -> _Kind:
        return self

    EXACT: _Kind
    PREFIX: _Kind
    SUFFIX: _Kind
    REGEXP: _Kind


_Kind.EXACT, _Kind.PREFIX, _Kind.SUFFIX, _Kind.REGEXP = (_Kind(n) for n in ("EXACT", "PREFIX", "SUFFIX", "REGEXP"))


def _escape_next(ch: str) -> str:
    """Go regexp meaning of a backslash followed by `ch`, written for Python's re."""
    if ch.isascii() and ch.isalnum():
        if ch in _SAME_ESCAPES:
            return "\\" + ch
        if ch == "z":
            return r"\Z"
        raise ValueError(f"unsupported escape \\{ch}")
    if not ch.isascii():
        raise ValueError(f"invalid escape \\{ch}")
    import re

    return re.escape(ch)


# The regular expressions above are what Docker runs (Go's RE2, linear time). Python's `re`
# backtracks: `*a*a*a*a*b` against a long name would take ages. So the common subset is also
# compiled to tokens matched by a small NFA simulation, linear in the path length; only exotic
# patterns (`\d`-like escapes, `^` anchors, `*`, `?` or `[` inside a class) use `re` directly.
_STAR, _ANY, _DSTAR, _ONE, _LIT, _CLASS = range(6)
_Token = tuple[int, object]


def _glob_token_char(text: str, pos: int) -> tuple[str, int] | None:
    """One literal character of a class at `pos` (an escape counts), or None if exotic."""
    ch = text[pos]
    if ch == "\\":
        nxt = text[pos + 1]
        if nxt.isascii() and not nxt.isalnum():
            return nxt, pos + 2
        return None
    if ch in "*?[":
        return None
    return ch, pos + 1


def _glob_tokens(text: str) -> tuple[_Token, ...] | None:
    """The tokens of a pattern that `Pattern.compile` translated to a regexp (a syntactically
    valid one), mirroring that translation; None when the regexp is not in the simple subset."""
    tokens: list[_Token] = []
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        pos += 1
        if ch == "*":
            if pos < n and text[pos] == "*":
                pos += 1
                if pos < n and text[pos] == "/":
                    pos += 1
                tokens.append((_ANY, None) if pos >= n else (_DSTAR, None))
            else:
                tokens.append((_STAR, None))
        elif ch == "?":
            tokens.append((_ONE, None))
        elif ch == "\\":
            nxt = text[pos]
            pos += 1
            if not nxt.isascii() or nxt.isalnum():
                return None
            tokens.append((_LIT, nxt))
        elif ch == "[":
            negated = pos < n and text[pos] == "^"
            if negated:
                pos += 1
            ranges: list[tuple[str, str]] = []
            while not (text[pos] == "]" and ranges):
                lo = _glob_token_char(text, pos)
                if lo is None:
                    return None
                low, pos = lo
                high = low
                if text[pos] == "-":
                    hi = _glob_token_char(text, pos + 1)
                    if hi is None:
                        return None
                    high, pos = hi
                ranges.append((low, high))
            pos += 1
            tokens.append((_CLASS, (negated, tuple(ranges))))
        elif ch == "^":
            return None
        else:
            tokens.append((_LIT, ch))
    return tuple(tokens)


_ClassArg = tuple[bool, tuple[tuple[str, str], ...]]


def _ranges_ordered(tokens: tuple[_Token, ...]) -> bool:
    """Whether every range of the tokens' classes goes up (`[a-z]`, not `[z-a]`)."""
    return all(low <= high for kind, arg in tokens if kind == _CLASS
               for low, high in arg[1])  # type: ignore[index]


def _compile(source: str) -> re.Pattern[str]:
    """A translated pattern's expression, compiled; re's error as ValueError."""
    import re
    import warnings

    with warnings.catch_warnings():
        # Go reads `[a[b]` or `[a--b]` literally; Python agrees but warns about it.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return re.compile(source, re.ASCII)
        except re.error as err:
            raise ValueError(str(err)) from None


def _class_matches(arg: object, ch: str) -> bool:
    negated, ranges = arg  # type: ignore[misc]  # a _ClassArg
    inside = any(lo <= ch <= hi for lo, hi in ranges)
    return bool(inside != negated)


def _match_tokens(tokens: tuple[_Token, ...], path: str) -> bool:
    """Anchored match of `path` against tokens by NFA simulation. States: i < n waits for token
    i; n is the accepting state; n + 1 + i is inside the `.*` of the `(.*/)?` of token i."""
    n = len(tokens)

    def closure(states: set[int]) -> set[int]:
        todo = list(states)
        while todo:
            state = todo.pop()
            if state >= n:
                continue
            kind = tokens[state][0]
            following: tuple[int, ...]
            if kind in (_STAR, _ANY):
                following = (state + 1,)
            elif kind == _DSTAR:
                following = (state + 1, n + 1 + state)
            else:
                continue
            for nxt in following:
                if nxt not in states:
                    states.add(nxt)
                    todo.append(nxt)
        return states

    current = closure({0})
    for ch in path:
        step: set[int] = set()
        for state in current:
            if state > n:  # inside `(.*/)?`: `.` takes anything but a newline; "/" may end it
                if ch != "\n":
                    step.add(state)
                if ch == "/":
                    step.add(state - n)
                continue
            if state == n:
                continue
            kind, arg = tokens[state]
            if kind == _STAR:
                if ch != "/":
                    step.add(state)
            elif kind == _ANY:
                if ch != "\n":
                    step.add(state)
            elif kind == _ONE:
                if ch != "/":
                    step.add(state + 1)
            elif kind == _LIT:
                if ch == arg:
                    step.add(state + 1)
            elif kind == _CLASS and _class_matches(arg, ch):
                step.add(state + 1)
        if not step:
            return False
        current = closure(step)
    return n in current


class Pattern:
    """One compiled .dockerignore line. A value compared by its parts; written out rather than a
    dataclass because a client-mode CLI imports this module at every start and dataclasses costs
    ~8 ms to import."""

    __slots__ = ("text", "exclusion", "kind", "source", "tokens", "_regexp")

    def __init__(self, text: str, exclusion: bool, kind: _Kind, source: str | None,
                 tokens: tuple[_Token, ...] | None = None, regexp: re.Pattern[str] | None = None) -> None:
        self.text = text  # the cleaned pattern without its `!`
        self.exclusion = exclusion  # True for a `!` exception
        self.kind = kind
        self.source = source  # the regular expression a REGEXP pattern translates to
        self.tokens = tokens  # linear-time form of that expression, when it has one
        self._regexp = regexp

    @property
    def regexp(self) -> re.Pattern[str] | None:
        """The compiled expression (compiled when first asked for, where `tokens` match instead)."""
        if self._regexp is None and self.source is not None:
            self._regexp = _compile(self.source)
        return self._regexp

    def _parts(self) -> tuple[object, ...]:
        return (self.text, self.exclusion, self.kind, self.source, self.tokens)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Pattern:
            return NotImplemented
        return self._parts() == other._parts()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._parts())

    def __repr__(self) -> str:
        return f"Pattern({self.text!r}, exclusion={self.exclusion}, kind={self.kind.name})"

    @classmethod
    def compile(cls, text: str, exclusion: bool) -> "Pattern":
        """patternmatcher Pattern.compile: choose exact/prefix/suffix or translate to a regexp."""
        out = "^"
        kind = _Kind.EXACT
        pos, n, token = 0, len(text), 0
        while pos < n:
            ch = text[pos]
            pos += 1
            if ch == "*":
                if pos < n and text[pos] == "*":
                    pos += 1
                    if pos < n and text[pos] == "/":  # `**/` is the same as `**`
                        pos += 1
                    if pos >= n:  # trailing `**`: everything below
                        if kind is _Kind.EXACT:
                            kind = _Kind.PREFIX
                        else:
                            out += ".*"
                            kind = _Kind.REGEXP
                    else:
                        out += "(.*/)?"
                        kind = _Kind.REGEXP
                    if token == 0:
                        kind = _Kind.SUFFIX
                else:
                    out += "[^/]*"
                    kind = _Kind.REGEXP
            elif ch == "?":
                out += "[^/]"
                kind = _Kind.REGEXP
            elif ch in _REGEXP_ONLY:
                out += "\\" + ch
            elif ch == "\\":
                if pos < n:
                    out += _escape_next(text[pos])
                    pos += 1
                    kind = _Kind.REGEXP
                else:  # unreachable: the syntax check refuses a trailing backslash
                    raise ValueError("trailing backslash")
            elif ch in "[]":
                out += ch
                kind = _Kind.REGEXP
            else:
                out += ch
            token += 1
        if kind is not _Kind.REGEXP:
            return cls(text, exclusion, kind, None)
        source = out + r"\Z"
        tokens = _glob_tokens(text)
        # Tokens match it; its expression is compiled only when it has none, or to raise re's
        # error (which the tokens do not check): `[z-a]`, a class's range backwards, is the one
        # expression of the token subset that fails (test_dockerignore.py: the translation
        # compiles whenever the pattern does). So `*.log` loads no re (with enum).
        regexp = _compile(source) if tokens is None or not _ranges_ordered(tokens) else None
        return cls(text, exclusion, kind, source, tokens, regexp)

    def match(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]  # `**/foo` matches `foo`
        if self.tokens is not None:
            return _match_tokens(self.tokens, path)
        assert self.regexp is not None
        return self.regexp.match(path) is not None

    @property
    def without_trailing_glob(self) -> str:
        text = self.text
        if text.endswith("/**"):
            text = text[:-3]
        if text.endswith("/*"):
            text = text[:-2]
        return text

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text


MatchInfo = tuple[bool, ...]
"""Per pattern: did it match this directory (or an ancestor)? Passed down while walking."""


def _parents(path: str) -> list[str]:
    """`a/b/c` -> [`a`, `a/b`] (the parent directories, outermost first)."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class IgnoreMatcher:
    """The patterns of one .dockerignore. Paths are relative to the context, `/`-separated."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        """Compile already-read patterns (the output of `read_ignore_lines`): patternmatcher.New."""
        compiled: list[Pattern] = []
        for raw in patterns:
            text = _go_trim_space(raw)
            if text == "":
                continue
            text = go_clean(text)
            exclusion = False
            if text.startswith("!"):
                if len(text) == 1:
                    raise InvalidParameter('invalid .dockerignore: illegal exclusion pattern: "!"')
                exclusion, text = True, text[1:]
            try:
                _check_match_syntax(text)
                compiled.append(Pattern.compile(text, exclusion))
            except ValueError as err:
                detail = str(err) or "syntax error in pattern"
                raise InvalidParameter(
                    f"invalid .dockerignore pattern {raw!r}: {detail}"
                ) from None
        self._patterns: tuple[Pattern, ...] = tuple(compiled)
        self._exclusions = any(p.exclusion for p in compiled)
        self._only_prefix_exceptions = not any(
            p.exclusion and _PATTERN_CHARS.intersection(p.without_trailing_glob) for p in compiled
        )

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> "IgnoreMatcher":
        """From the lines of a .dockerignore file (comments, blanks, `/` and `./` handled)."""
        return cls(read_ignore_lines(lines))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "IgnoreMatcher":
        """From a .dockerignore file; a missing file is an empty matcher, as in Docker."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return cls()
        except IsADirectoryError:
            raise InvalidParameter(f"{path} is a directory, not a .dockerignore file") from None
        text = data.decode("utf-8", errors="surrogateescape")
        return cls.from_lines(text.split("\n"))

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        return self._patterns

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def __repr__(self) -> str:
        return f"IgnoreMatcher({[str(p) for p in self._patterns]!r})"

    def match_with_parent(self, path: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """patternmatcher MatchesUsingParentResults: `parent` is the info of path's directory
        (None for a top-level entry). Returns whether `path` is excluded and its own info."""
        matched = False
        infos: list[bool] = []
        for index, pattern in enumerate(self._patterns):
            match = bool(parent) and parent[index]  # type: ignore[index]
            if not match:
                if pattern.exclusion != matched:  # would not change the outcome
                    infos.append(False)
                    continue
                match = pattern.match(path)
                if not match and not parent:
                    match = any(pattern.match(p) for p in _parents(path))
            infos.append(match)
            if match:
                matched = not pattern.exclusion
        return matched, tuple(infos)

    def matches(self, relpath: str) -> bool:
        """Is `relpath` excluded from the context? Same answer as Docker's context walk."""
        path = self._normalize(relpath)
        if path is None or not self._patterns:
            return False
        info: MatchInfo | None = None
        for parent in _parents(path):
            _, info = self.match_with_parent(parent, info)
        return self.match_with_parent(path, info)[0]

    def matches_or_parent_matches(self, relpath: str) -> bool:
        """patternmatcher MatchesOrParentMatches (stateless; what BuildKit's Open uses)."""
        path = self._normalize(relpath)
        if path is None:
            return False
        parents = _parents(path)
        matched = False
        for pattern in self._patterns:
            if pattern.exclusion != matched:
                continue
            if pattern.match(path) or any(pattern.match(p) for p in parents):
                matched = not pattern.exclusion
        return matched

    def can_skip_dir(self, relpath: str) -> bool:
        """True when `relpath` is an excluded directory under which no exception can re-include
        anything, so a walker need not descend (fsutil's onlyPrefixExcludeExceptions rule)."""
        path = self._normalize(relpath)
        if path is None or not self.matches(path):
            return False
        return self.can_skip_excluded_dir(path)

    def can_skip_excluded_dir(self, path: str) -> bool:
        """`can_skip_dir` for a directory already known to be excluded (a clean relative path)."""
        if not self._exclusions:
            return True
        if not self._only_prefix_exceptions:
            return False
        dir_slash = path + "/"
        for pattern in self._patterns:
            if pattern.exclusion and (pattern.without_trailing_glob + "/").startswith(dir_slash):
                return False
        return True

    def cli_enters_excluded_dir(self, path: str) -> bool:
        """Does the docker CLI walk into the excluded directory `path` (a clean relative path)
        when it packs a context? archive.TarWithOptions (docker CLI 20.10 and 28, classic
        builder) does only when an exception pattern, as written, starts with `path/`: `!d/x`
        and `!d/*.txt` enter `d`, `!**/*.keep` enters nothing. The directory itself is never
        sent; what is re-included inside arrives without it (the daemon creates it, 0755)."""
        if not self._exclusions:
            return False
        dir_slash = path + "/"
        return any(p.exclusion and (p.text + "/").startswith(dir_slash) for p in self._patterns)

    @staticmethod
    def _normalize(relpath: str) -> str | None:
        path = go_clean(relpath)
        while path.startswith("/"):
            path = path[1:]
        if path in ("", "."):
            return None  # the context root itself is never excluded
        return path
