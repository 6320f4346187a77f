"""An image read from an archive (docker-archive or OCI layout), before it enters the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.digest import Digest
from dockyard.reference import Reference
from dockyard.transport.spool import Entry


@dataclass
class ArchiveLayer:
    entry: Entry
    diff_id: Digest          # what the config says the uncompressed tar hashes to


@dataclass
class ArchiveImage:
    raw_config: bytes
    layers: list[ArchiveLayer]
    tags: list[Reference] = field(default_factory=list)
