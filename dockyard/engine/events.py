"""`docker events` for both servers: the store's journal (store/events.py) filtered as Docker
filters events, with Docker's `since`/`until` (Unix seconds with a fraction, RFC 3339, or a
duration before now such as `10m`)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from dockyard import filters as filters_mod
from dockyard.errors import InvalidParameter
from dockyard.image.config import parse_time as parse_rfc3339
from dockyard.store.events import Event, Journal

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_time(text: str | None, now: float | None = None) -> int | None:
    """A `since`/`until` value as nanoseconds since the epoch (None when absent)."""
    if text is None or text == "":
        return None
    now = time.time() if now is None else now
    m = _DURATION.fullmatch(text)
    if m:
        return int((now - float(m.group(1)) * _UNIT[m.group(2)]) * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds, _, frac = text.partition(".")
        return int(seconds) * 1_000_000_000 + int((frac + "000000000")[:9])
    parsed = parse_rfc3339(text)
    if parsed is None:
        raise InvalidParameter(f"failed to parse value as time or duration: \"{text}\"")
    return int(parsed.timestamp() * 1e9)


def prune_cutoff(values: list[str]) -> float | None:
    """A prune's `until` filter: the earliest of its values, in seconds since the epoch (None
    when not given); what was created after it stays (daemon/prune.go)."""
    return min(((parse_time(v) or 0) / 1e9 for v in values), default=None)


def _matches(event: Event, f: filters_mod.Filters) -> bool:
    attrs = event.attributes
    if not f.match("type", [event.type]):
        return False
    if not f.match("event", [event.action, event.action.split(":")[0]]):
        return False
    if "container" in f and not (event.type == "container" and f.match(
            "container", [event.actor, event.actor[:12], attrs.get("name", "")])):
        return False
    if "image" in f and not f.match("image", [attrs.get("image", ""), event.actor,
                                              attrs.get("name", "")]):
        return False
    for key in ("network", "volume"):
        if key in f and not (event.type == key and f.match(key, [event.actor, attrs.get("name", "")])):
            return False
    if "daemon" in f or "scope" in f and not f.match("scope", ["local"]):
        return "daemon" not in f and event.type == "daemon"
    for key in ("config", "node", "plugin", "secret", "service"):
        if key in f:
            return False
    return f.match_labels(attrs)


def stream(root: Path, since: str | None, until: str | None, raw_filters: str | None,
           stopped: Callable[[], bool]) -> Iterator[dict[str, Any] | None]:
    """Docker's event messages in order; None while idle (the caller checks its client)."""
    f = filters_mod.parse(raw_filters, filters_mod.EVENTS)
    since_ns, until_ns = parse_time(since), parse_time(until)
    if until_ns is not None and since_ns is None:
        since_ns = 0 if until_ns <= time.time_ns() else None
    journal = Journal(root)
    if until_ns is not None and until_ns <= time.time_ns():
        source: Iterator[Event | None] = journal.read(since_ns or 0, until_ns)
    else:
        source = journal.follow(since_ns, until_ns, stopped)
    for event in source:
        if event is None:
            yield None
        elif _matches(event, f):
            yield event.to_docker()


def emit(root: Path, type_: str, action: str, actor: str, attributes: dict[str, str] | None = None) -> None:
    Journal(root).emit(type_, action, actor, attributes)
