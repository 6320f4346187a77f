"""Parsing of `WWW-Authenticate` challenges (RFC 7235) sent by registries: Basic and Bearer."""

from __future__ import annotations

import re
from dockyard.dataclass import dataclass, field

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"\s*({_TOKEN})\s*")
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|({_TOKEN}))\s*")


@dataclass(frozen=True)
class Challenge:
    """One challenge: scheme lowercased ('basic', 'bearer') and its parameters (keys lowercased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges of one header value; malformed trailing text is ignored, never raised on."""
    out: list[Challenge] = []
    pos = 0
    text = header or ""
    while pos < len(text):
        m = _SCHEME.match(text, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(text):
            pm = _PARAM.match(text, pos)
            if not pm:
                break
            value = pm.group(2)
            value = re.sub(r"\\(.)", r"\1", value) if value is not None else pm.group(3)
            params[pm.group(1).lower()] = value
            pos = pm.end()
            if pos < len(text) and text[pos] == ",":
                pos += 1
                # a following "scheme param=" starts a new challenge
                nxt = _PARAM.match(text, pos)
                if not nxt:
                    break
        out.append(Challenge(scheme, params))
        while pos < len(text) and text[pos] in ", ":
            pos += 1
    return out


def scope_for(repository: str, actions: tuple[str, ...]) -> str:
    """The token scope Docker asks for: `repository:<name>:pull,push`."""
    return f"repository:{repository}:{','.join(actions)}"
