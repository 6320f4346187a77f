"""An image archive as a copy source: `docker save`'s format (any Docker version, skopeo's
`docker-archive:`) or an OCI layout (skopeo's `oci-archive:`), plain or compressed, from a file
or a pipe. It is spooled in one pass (see spool.py), then read by the format it turns out to be."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from dockyard.errors import InvalidArchive
from dockyard.transport.adapter import ImageSource, SourceImage
from dockyard.transport.docker_archive import read_docker_archive
from dockyard.transport.oci_layout import read_oci_layout
from dockyard.transport.spool import SpooledArchive


class ArchiveSource(ImageSource):
    """Spools the archive into `tmp` (the store's, so that checked layer tars are taken by a
    rename); removes what it spooled on exit."""

    def __init__(self, stream: BinaryIO, tmp: Path) -> None:
        self._stream = stream
        self.spool = SpooledArchive(tmp)
        self._images: list[SourceImage] | None = None

    def __enter__(self) -> "ArchiveSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.spool.cleanup()

    def images(self) -> list[SourceImage]:
        """The archive's images; the first call reads the whole stream (load calls it before
        it takes any store lock)."""
        if self._images is None:
            self._images = self._read()
        return self._images

    def _read(self) -> list[SourceImage]:
        spool = self.spool.read(self._stream)
        if spool.has("manifest.json"):
            images = read_docker_archive(spool)
        elif spool.has("index.json"):
            images = read_oci_layout(spool)
        else:
            raise InvalidArchive("invalid image archive: no manifest.json or index.json found")
        if not images:
            raise InvalidArchive("invalid image archive: it holds no image")
        return images
