"""Names of images: `repositories.json`, `{"Repositories": {repo: {"repo:tag" | "repo@digest": id}}}`.

Names are kept fully qualified (`docker.io/library/busybox:latest`), as Docker's reference store
does. Read-modify-write happens under the store's `meta` lock; the file is replaced atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.atomic import atomic_write, commit_prepared, prepare_write
from dockyard.dataclass import dataclass
from dockyard.digest import Digest
from dockyard.reference import Reference, parse_reference
from dockyard.store import workspace


@dataclass(frozen=True)
class TagEntry:
    """One name of an image (a tag or a digest reference)."""

    reference: Reference
    image_id: Digest


class TagStore:
    def __init__(self, path: Path, tmp_root: Path) -> None:
        self.path = path
        self.tmp_root = tmp_root

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        return data.get("Repositories", {})

    def _save(self, repos: dict[str, dict[str, str]]) -> None:
        atomic_write(self.path, self._encode(repos), tmp_dir=workspace.folder(self.tmp_root))

    @staticmethod
    def _encode(repos: dict[str, dict[str, str]]) -> bytes:
        repos = {name: refs for name, refs in sorted(repos.items()) if refs}
        return json.dumps({"Repositories": repos}, indent=None).encode()

    def entries(self) -> list[TagEntry]:
        out = []
        for refs in self._load().values():
            for ref, image_id in refs.items():
                out.append(TagEntry(parse_reference(ref), Digest.parse(image_id)))
        return out

    def get(self, ref: Reference) -> Digest | None:
        refs = self._load().get(ref.name, {})
        value = refs.get(str(ref))
        return Digest.parse(value) if value else None

    def set(self, ref: Reference, image_id: Digest) -> Digest | None:
        """Point `ref` at `image_id`; returns the image it pointed at before, if any."""
        repos = self._load()
        refs = repos.setdefault(ref.name, {})
        old = refs.get(str(ref))
        refs[str(ref)] = str(image_id)
        self._save(repos)
        return Digest.parse(old) if old else None

    def prepare_set(self, ref: Reference, image_id: Digest) -> str:
        """`set`'s new file, written (atomic.prepare_write) but not yet in place: `commit` it,
        under the same hold of the meta lock."""
        repos = self._load()
        repos.setdefault(ref.name, {})[str(ref)] = str(image_id)
        return prepare_write(self._encode(repos), workspace.folder(self.tmp_root), self.path.name)

    def commit(self, prepared: str) -> None:
        commit_prepared(prepared, self.path)

    def delete(self, ref: Reference) -> bool:
        repos = self._load()
        refs = repos.get(ref.name, {})
        if str(ref) not in refs:
            return False
        del refs[str(ref)]
        self._save(repos)
        return True

    def references_to(self, image_id: Digest) -> list[Reference]:
        return sorted(
            (e.reference for e in self.entries() if e.image_id == image_id), key=str
        )
