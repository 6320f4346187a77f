"""Layer waste: the files a layer adds that a later layer deletes (a whiteout, an opaque
directory) or overwrites (the same path again, or a directory where the file was): their bytes
stay in the image, unreachable (what the `dive` tool calls wasted space).

`find_waste` reads the layer tars bottom to top in one pass each (bounded memory: one node per
live path, no file contents) and keeps, for every path still visible, the size and the layer that
wrote it. Sizes are the regular files' content bytes (links and other entries count 0); a
directory that goes takes every file under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from dockyard.archive.apply import WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from dockyard.archive.tarreader import DIR, REGULAR_TYPES, TarReader
from dockyard.archive.tarsafe import clean_name


@dataclass(frozen=True)
class Wasted:
    path: str          # absolute, as the container sees it
    bytes: int
    added: int         # index of the layer that wrote it
    removed: int       # index of the layer that deleted or overwrote it


@dataclass
class _File:
    size: int
    layer: int


class _Dir:
    __slots__ = ("children", "layer")

    def __init__(self, layer: int) -> None:
        self.children: dict[str, _File | _Dir] = {}
        self.layer = layer


def _files(node: _File | _Dir, path: str) -> Iterator[tuple[str, _File]]:
    """Every file under `node` (itself if it is one), with its path."""
    if isinstance(node, _File):
        yield path, node
        return
    stack = [(path, node)]
    while stack:
        here, d = stack.pop()
        for name, child in d.children.items():
            if isinstance(child, _File):
                yield f"{here}/{name}", child
            else:
                stack.append((f"{here}/{name}", child))


class _Tree:
    def __init__(self) -> None:
        self.root = _Dir(-1)
        self.wasted: list[Wasted] = []

    def _waste(self, node: _File | _Dir, path: str, layer: int, only_below: int | None = None) -> None:
        for name, f in _files(node, path):
            if only_below is None or f.layer < only_below:
                self.wasted.append(Wasted(name, f.size, f.layer, layer))

    def _dir(self, parts: list[str], layer: int) -> tuple[_Dir, str]:
        """The directory `parts` (made where missing; a file in the way is overwritten)."""
        node, path = self.root, ""
        for part in parts:
            path += "/" + part
            child = node.children.get(part)
            if not isinstance(child, _Dir):
                if child is not None:
                    self._waste(child, path, layer)
                child = node.children[part] = _Dir(layer)
            node = child
        return node, path

    def add(self, name: str, is_dir: bool, size: int, layer: int) -> None:
        parts = name.split("/")
        parent, parent_path = self._dir(parts[:-1], layer)
        base, path = parts[-1], f"{parent_path}/{parts[-1]}"
        if base == WHITEOUT_OPAQUE:  # the directory keeps only what this layer writes in it
            for child_name, child in list(parent.children.items()):
                self._waste(child, f"{parent_path}/{child_name}", layer, only_below=layer)
                if isinstance(child, _File) and child.layer < layer:
                    del parent.children[child_name]
                elif isinstance(child, _Dir):
                    _prune_below(child, layer)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return
        if base.startswith(WHITEOUT_PREFIX):
            gone = parent.children.pop(base[len(WHITEOUT_PREFIX):], None)
            if gone is not None:
                self._waste(gone, f"{parent_path}/{base[len(WHITEOUT_PREFIX):]}", layer)
            return
        old = parent.children.get(base)
        if is_dir:
            if isinstance(old, _Dir):
                return
            if old is not None and old.layer < layer:
                self._waste(old, path, layer)
            parent.children[base] = _Dir(layer)
            return
        if old is not None and (isinstance(old, _Dir) or old.layer < layer):
            self._waste(old, path, layer)
        parent.children[base] = _File(size, layer)


def _prune_below(node: _Dir, layer: int) -> None:
    """Drop what lower layers wrote under an opaque directory (their waste is counted)."""
    for name, child in list(node.children.items()):
        if isinstance(child, _Dir):
            _prune_below(child, layer)
            if child.layer < layer and not child.children:
                del node.children[name]
        elif child.layer < layer:
            del node.children[name]


def find_waste(layers: Iterable[BinaryIO]) -> list[Wasted]:
    """The waste of the layer tars given bottom to top, largest first (then by path)."""
    tree = _Tree()
    for index, stream in enumerate(layers):
        for entry in TarReader(stream):
            name = clean_name(entry.name)
            if not name:
                continue
            size = entry.size if entry.type in REGULAR_TYPES else 0
            tree.add(name, entry.type == DIR, size, index)
    return sorted(tree.wasted, key=lambda w: (-w.bytes, w.path, w.added))
