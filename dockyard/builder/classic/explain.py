"""Why a classic build step missed the cache (`build --explain-cache`): one reason per miss.

The classic cache looks for a child of the step's parent image with the same container config
(cache.py). When it finds none, the reason is, in this order:
- `--no-cache`;
- `parent changed at step N`: an earlier step of the stage (or of the stage it starts from)
  missed, so this step's parent is a new image no earlier build had;
- against the children of the parent (earlier builds of a step on the same image), the nearest:
  the same RUN with other build args (`build arg V changed: "1" -> "2"`), the same COPY/ADD
  with other sources (the files that changed, from the file list kept with the earlier step's
  image), the same command with another config (`config changed: User`), or the same
  instruction with another command (`command changed: was ENV E=1`);
- otherwise the step was never built on this parent.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from dockyard.builder.classic.cache import ChildIndex
from dockyard.builder.copy.manifest import changes
from dockyard.digest import Digest
from dockyard.store.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.builder.copy.manifest import Entry   # a type checker's name only (manifest.py)

__all__ = ["explain_miss"]

# A COPY/ADD comment: `COPY --chown=..file:<hex> in /dest ` (history.copy_comment).
_COPY_HASH = re.compile(r"\b(?:file|dir|multi):[0-9a-f]{64}|(?<= )[0-9a-f]{64}(?= in )")
_CONFIG_KEYS = ("User", "Env", "Entrypoint", "WorkingDir", "Labels", "ExposedPorts", "Volumes",
                "Shell", "Healthcheck", "StopSignal", "OnBuild")


def _split_args(cmd: list[str]) -> tuple[dict[str, str], list[str]]:
    """RUN's recorded command `|N K=v ... cmd...` -> ({K: v}, cmd)."""
    if cmd and cmd[0].startswith("|") and cmd[0][1:].isdigit():
        n = int(cmd[0][1:])
        pairs = dict(a.partition("=")[::2] for a in cmd[1:1 + n])
        return pairs, cmd[1 + n:]
    return {}, cmd


def _comment(cmd: list[str]) -> str | None:
    """The `#(nop) ...` comment of a metadata or COPY step, None for a RUN."""
    for i, word in enumerate(cmd):
        if word.startswith("#(nop) "):
            return " ".join([word[7:], *cmd[i + 1:]]).strip()
        if word == "#(nop) ":
            return " ".join(cmd[i + 1:]).strip()
    return None


def _keyword(cmd: list[str]) -> str:
    comment = _comment(cmd)
    return "RUN" if comment is None else comment.split(" ", 1)[0]


def _arg_changes(old: dict[str, str], new: dict[str, str]) -> str:
    out = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            was = json.dumps(old[name]) if name in old else "(unset)"
            now = json.dumps(new[name]) if name in new else "(unset)"
            out.append(f"build arg {name} changed: {was} -> {now}")
    return "; ".join(out)


def _children(store: Store, index: ChildIndex, parent: Digest | None) -> list[tuple[str, Digest, dict]]:
    """(created, id, container_config) of the parent's children, newest first."""
    out = []
    for child in index.children(parent):
        try:
            data = json.loads(store.blobs.read(child))
        except Exception:  # noqa: BLE001 - removed meanwhile, or broken: no candidate
            continue
        if isinstance(data, dict) and isinstance(data.get("container_config"), dict):
            out.append((str(data.get("created") or ""), child, data["container_config"]))
    out.sort(key=lambda c: c[0], reverse=True)
    return out


def explain_miss(store: Store, index: ChildIndex, parent: Digest | None, probe: dict[str, Any], *,
                 no_cache: bool, changed_at: int | None,
                 sources: Callable[[], dict[str, Entry] | None] | None = None) -> str:
    """The reason of a miss (see the module's doc); `sources` gives the step's file list (COPY/ADD)."""
    if no_cache:
        return "--no-cache"
    if changed_at is not None:
        return f"parent changed at step {changed_at}"
    cmd = list(probe.get("Cmd") or [])
    args, rest = _split_args(cmd)
    comment = _comment(cmd)
    keyword = _keyword(cmd)
    same_kind = None
    for _, child, config in _children(store, index, parent):
        their = list(config.get("Cmd") or [])
        if _keyword(their) != keyword:
            continue
        same_kind = same_kind or their
        their_args, their_rest = _split_args(their)
        if their == cmd:
            differ = [k for k in _CONFIG_KEYS if (config.get(k) or None) != (probe.get(k) or None)]
            return f"config changed: {', '.join(differ) or 'container settings'}"
        if their_rest == rest and their_args != args:
            return _arg_changes(their_args, args)
        their_comment = _comment(their)
        if comment is not None and their_comment is not None and keyword in ("COPY", "ADD") \
                and _COPY_HASH.sub("#", comment) == _COPY_HASH.sub("#", their_comment):
            return _files_changed(store, child, sources)
    if same_kind is not None:
        return f"command changed: was {_shown(same_kind)}"
    return "not built before on this parent image"


def _shown(cmd: list[str]) -> str:
    """A recorded command as the instruction it was: `ENV E=1`, `RUN echo hi`."""
    comment = _comment(cmd)
    if comment is not None:
        return comment
    words = _split_args(cmd)[1]
    if len(words) == 3 and words[1] in ("-c", "/S /C"):
        return "RUN " + words[2]
    return "RUN " + json.dumps(words)


def _files_changed(store: Store, earlier: Digest,
                   sources: Callable[[], dict[str, Entry] | None] | None) -> str:
    old_data = store.step_sources(earlier)
    new = sources() if sources is not None else None
    if old_data is None or new is None:
        return "files changed (the sources' checksum differs; no file list to compare)"
    try:
        old = json.loads(old_data)
    except ValueError:
        return "files changed (the sources' checksum differs; no file list to compare)"
    text = changes(old, new)
    return f"files changed: {text}" if text else "files changed (the sources' checksum differs)"
