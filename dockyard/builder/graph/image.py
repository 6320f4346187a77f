"""The image config as BuildKit's Dockerfile frontend and exporter write it.

Checked against dockerd 20.10's BuildKit (tests/builder/graph/test_reference.py):
- `config` holds only what is set, in the frontend's struct order (User, ExposedPorts, Env,
  Entrypoint, Cmd, Volumes, WorkingDir, Labels, StopSignal, Healthcheck, ArgsEscaped, OnBuild,
  StopTimeout, Shell), `OnBuild` always present (null once the triggers ran); nothing else of
  the base image's config survives (no Hostname, Image, ...);
- the top level has no `container`, `container_config`, `docker_version`; its keys are sorted
  (the exporter patches the config as a map);
- history entries: `created_by` as the frontend wrote it, `comment: buildkit.dockerfile.v0`;
  their times (`normalize_history`): a layer's entry the time its layer was made, an entry
  without a layer the time of the layer before it, or, before the first new layer, of that
  first new layer; the image's `created` is the last entry's time.
Go's JSON encoding (`<`, `>`, `&` escaped) via dockyard.gojson.
"""

from __future__ import annotations

import time

from dockyard.digest import Digest
from dockyard.gojson import go_json

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

HISTORY_COMMENT = "buildkit.dockerfile.v0"
CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
               "Labels", "StopSignal", "Healthcheck", "ArgsEscaped", "OnBuild", "StopTimeout",
               "Shell")
HEALTH_KEYS = ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
HISTORY_KEYS = ("created", "created_by", "author", "comment", "empty_layer")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def go_time(ns: int | None = None) -> str:
    """A time as Go's RFC3339Nano writes it (BuildKit's history times): UTC, nanoseconds
    without trailing zeros."""
    if ns is None:
        ns = time.time_ns()
    seconds, fraction = divmod(ns, 1_000_000_000)
    when = time.gmtime(seconds)
    if 1000 <= when.tm_year <= 9999:  # as datetime writes it, without its import (a cold build's start)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", when)
    else:
        from datetime import datetime, timezone  # its zero-padded year

        text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return text + (f".{digits}" if digits else "") + "Z"


def empty_image(os_: str = "linux", arch: str = "amd64", variant: str = "") -> dict[str, Any]:
    """`FROM scratch` (the frontend's emptyImage): WorkingDir `/` and a PATH."""
    return {"architecture": arch, "os": os_, "variant": variant, "author": "",
            "config": {"Env": [f"PATH={DEFAULT_PATH}"], "WorkingDir": "/"}, "history": []}


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, tuples of them; strings, numbers, booleans and
    None are kept), as copy.deepcopy makes it, without loading copy (with weakref) at each
    build's start; anything else is deepcopy's."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is tuple:
        return tuple(json_copy(v) for v in value)
    if kind in (str, int, float, bool) or value is None:
        return value
    import copy

    return copy.deepcopy(value)


def from_image_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A base image's config as the frontend reads it into its own struct (unknown fields go)."""
    cfg = raw.get("config") or {}
    config: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = cfg.get(key)
        if key == "Healthcheck" and isinstance(value, dict):
            value = {k: value[k] for k in HEALTH_KEYS if value.get(k)}
        if value not in (None, "", False, [], {}):
            config[key] = json_copy(value)
    history = []
    for item in raw.get("history") or []:
        if isinstance(item, dict):
            history.append({k: item[k] for k in HISTORY_KEYS if item.get(k)})
    return {"architecture": str(raw.get("architecture") or ""), "os": str(raw.get("os") or ""),
            "variant": str(raw.get("variant") or ""), "author": str(raw.get("author") or ""),
            "config": config, "history": history}


def normalize_history(history: list[dict[str, Any]], layer_times: list[str | None]) -> list[dict[str, Any]]:
    """Fill in history times as BuildKit's exporter does. `layer_times` has one entry per
    layer of the image, in order: the time a new layer was made (None for a base layer, whose
    history entry has its own time)."""
    out = [dict(h) for h in history]
    index = 0
    for h in out:
        if h.get("empty_layer"):
            continue
        if not h.get("created") and index < len(layer_times) and layer_times[index]:
            h["created"] = layer_times[index]
        index += 1
    created: str | None = None
    missing = False
    for h in out:
        if h.get("created"):
            created = h["created"]
            if missing:
                break
        else:
            missing = True
    missing = False
    for h in out:
        if h.get("created"):
            if missing:
                created = h["created"]
        else:
            missing = True
            if created:
                h["created"] = created
    return out


def config_json(image: dict[str, Any], diff_ids: list[Digest], history: list[dict[str, Any]]) -> bytes:
    """The image config bytes (their sha256 is the image ID)."""
    cfg = image["config"]
    config: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = cfg.get(key)
        if key == "OnBuild":
            config["OnBuild"] = value or None
            continue
        if value in (None, "", False, [], {}):
            continue
        if key in ("ExposedPorts", "Volumes", "Labels"):
            value = {k: value[k] for k in sorted(value)}
        if key == "Healthcheck":
            value = {k: value[k] for k in HEALTH_KEYS if value.get(k)}
        config[key] = value
    hist = [{k: h[k] for k in HISTORY_KEYS if h.get(k)} for h in history]
    top: dict[str, Any] = {"architecture": image.get("architecture") or "amd64"}
    if image.get("author"):
        top["author"] = image["author"]
    top["config"] = config
    created = next((h["created"] for h in reversed(hist) if h.get("created")), None)
    if created:
        top["created"] = created
    top["history"] = hist
    top["os"] = image.get("os") or "linux"
    top["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    if image.get("variant"):
        top["variant"] = image["variant"]
    return go_json(top)
