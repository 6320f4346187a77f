"""The store the engine works on: the servers open it at a root and hand it, as an opaque handle,
to every engine call (they never use the store's own interface)."""

from __future__ import annotations

from pathlib import Path

from dockyard.store.store import Store, default_root


def open_store(root: Path) -> Store:
    """The store at `root`, laid out on first use."""
    return Store(root)


__all__ = ["Store", "default_root", "open_store"]
