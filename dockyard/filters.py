"""Docker's list filters (`?filters=` of the Engine API, `--filter` of the CLI): parsed, checked
and matched in one place.

The JSON is `{"key": {"value": true, ...}}` (or the older `{"key": ["value", ...]}`). Values of
one key are alternatives; keys must all match; `label` is the exception: every label given must
match. A key the list does not know, or a value that is malformed for its key, is an
InvalidParameter (400) with Docker's wording: never a wider answer.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping

from dockyard.errors import InvalidParameter

CONTAINER_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")

CONTAINERS = frozenset({"ancestor", "before", "expose", "exited", "health", "id", "isolation",
                        "is-task", "label", "name", "network", "publish", "since", "status",
                        "volume"})
IMAGES = frozenset({"before", "dangling", "label", "reference", "since", "until"})
NETWORKS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
VOLUMES = frozenset({"dangling", "driver", "label", "name"})
EVENTS = frozenset({"config", "container", "daemon", "event", "image", "label", "network", "node",
                    "plugin", "scope", "secret", "service", "type", "volume"})
CONTAINER_PRUNE = frozenset({"label", "label!", "until"})
IMAGE_PRUNE = frozenset({"dangling", "label", "label!", "until"})
NETWORK_PRUNE = frozenset({"label", "label!", "until"})
VOLUME_PRUNE = frozenset({"label", "label!", "all"})
# (dockerd 20.10 takes label and label! and ignores them; a record has no labels: label keeps it)
BUILD_CACHE_PRUNE = frozenset({"label", "label!", "until"})
PLUGINS = frozenset({"capability", "enabled"})
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?")


class Filters:
    """Validated filters: key -> values, in the order given."""

    def __init__(self, values: Mapping[str, list[str]] | None = None) -> None:
        self._values = {k: list(v) for k, v in (values or {}).items() if v}

    def __bool__(self) -> bool:
        return bool(self._values)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def keys(self) -> list[str]:
        return list(self._values)

    def get(self, key: str) -> list[str]:
        return list(self._values.get(key, []))

    def to_json(self) -> str:
        return json.dumps({k: {v: True for v in vs} for k, vs in self._values.items()})

    # -- matching ---------------------------------------------------------------------------
    def match(self, key: str, candidates: Iterable[str], how: str = "exact") -> bool:
        """True when `key` is not filtered on, or one of its values matches one candidate:
        `exact`, `prefix` (IDs), or `regex` (names: Docker matches a regular expression)."""
        wanted = self._values.get(key)
        if not wanted:
            return True
        items = list(candidates)
        for value in wanted:
            for item in items:
                if how == "exact" and item == value:
                    return True
                if how == "prefix" and item.startswith(value):
                    return True
                if how == "regex" and (item == value or _search(value, item)):
                    return True
        return False

    def match_labels(self, labels: Mapping[str, str] | None, key: str = "label") -> bool:
        """Every `label` value (`KEY` or `KEY=VALUE`) must be on the object; `label!` values
        must not be (prune)."""
        labels = labels or {}
        for value in self._values.get(key, []):
            name, eq, want = value.partition("=")
            if name not in labels or (eq and labels[name] != want):
                return False
        for value in self._values.get("label!", []) if key == "label" else []:
            name, eq, want = value.partition("=")
            if name in labels and (not eq or labels[name] == want):
                return False
        return True

    def bool_value(self, key: str) -> bool | None:
        """The one boolean value of `key` (validated at parse), or None when absent."""
        values = self._values.get(key)
        if not values:
            return None
        return values[-1].lower() in ("1", "true")


def _search(pattern: str, text: str) -> bool:
    """Go's filters.Match: a value that is no regular expression matches nothing but itself."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def parse(raw: str | None, allowed: frozenset[str]) -> Filters:
    """The `filters` query parameter for a list whose keys are `allowed`."""
    if raw is None or raw.strip() in ("", "{}"):
        return Filters()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"invalid filter: {raw}") from None
    if not isinstance(data, dict):
        raise InvalidParameter(f"invalid filter: {raw}")
    values: dict[str, list[str]] = {}
    for key, spec in data.items():
        if isinstance(spec, dict):
            if not all(isinstance(v, str) for v in spec) or not all(isinstance(b, bool) for b in spec.values()):
                raise InvalidParameter(f"invalid filter: {raw}")
            items = [v for v, on in spec.items() if on]
        elif isinstance(spec, list) and all(isinstance(v, str) for v in spec):
            items = list(spec)
        else:
            raise InvalidParameter(f"invalid filter: {raw}")
        if key not in allowed:
            raise InvalidParameter(f"Invalid filter '{key}'")
        values[key] = items
    filters = Filters(values)
    _check_values(filters, allowed)
    return filters


def _check_values(filters: Filters, allowed: frozenset[str]) -> None:
    for value in filters.get("status"):
        if value not in CONTAINER_STATUSES:
            raise InvalidParameter(f"Invalid filter 'status={value}'")   # dockerd 20.10's invalidFilter
    for value in filters.get("health"):
        if value not in HEALTH_STATES:
            raise InvalidParameter(f"Unrecognised filter value for health: {value}")
    for value in filters.get("exited"):
        try:
            int(value)
        except ValueError:
            raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    for key in ("is-task", "dangling", "all"):
        values = filters.get(key)
        if any(value.lower() not in ("true", "false", "1", "0") for value in values):
            if allowed is NETWORKS:     # dockerd 20.10's words for each: the network list's own
                raise InvalidParameter(f"invalid value for filter '{key}', must be \"true\" (or \"1\"), "
                                       "or \"false\" (or \"0\")")
            # the others' invalidFilter, its values a Go slice: 'dangling=[maybe]'
            raise InvalidParameter(f"Invalid filter '{key}=[{' '.join(values)}]'")
    for value in filters.get("isolation"):
        if value not in ("default", "process", "hyperv"):
            raise InvalidParameter(f"Invalid isolation: '{value}'")
    for key in ("publish", "expose"):
        for value in filters.get(key):
            if _PORT.fullmatch(value) is None:
                raise InvalidParameter(f"Invalid filter '{key}={value}'")
    for value in filters.get("type"):
        if value not in ("custom", "builtin", "container", "image", "volume", "network", "daemon",
                         "plugin", "node", "service", "secret", "config"):
            raise InvalidParameter(f"Invalid filter: 'type'='{value}'")
    for value in filters.get("scope"):
        if value not in ("local", "swarm", "global"):
            raise InvalidParameter(f"Invalid filter: 'scope'='{value}'")


def port_matches(value: str, ports: Iterable[tuple[int, str]]) -> bool:
    """`publish`/`expose` value (`80`, `80/tcp`, `8000-8080/udp`) against (port, protocol)."""
    m = _PORT.fullmatch(value)
    if m is None:
        return False
    low = int(m.group(1))
    high = int(m.group(2) or low)
    proto = m.group(3)
    return any(low <= port <= high and (proto is None or proto == p) for port, p in ports)
