"""BuildKit's exporters: where a solved build goes (`--output`), and what it reports.

- (no --output), `type=docker`, `type=image`: the image into the store, tagged with `-t`;
- `type=docker,dest=FILE`: a `docker save` archive (loadable by `docker load`), not stored;
- `type=oci,dest=FILE`: an OCI image layout tarball (the same writer: its layout is OCI);
- `type=tar,dest=FILE`: the final filesystem as one tar;
- `type=local,dest=DIR`: the final filesystem written into a directory (build artifacts out);
- `-o DIR` is `type=local,dest=DIR`, `-o -` is `type=tar,dest=-` (stdout).
As a client of `dockyard serve`, the daemon writes no file: it sends the bytes to the client
(`OutputSpec.stream`; a local directory travels as a tar), which writes or extracts them here.
The imports that writing needs are made when it is done: a client of `dockyard serve` imports
this module to write what the daemon sends. `--iidfile` gets the image ID (config digest); `--metadata-file` a JSON object as buildx
writes it (`containerimage.config.digest`, `image.name`, and `containerimage.digest` when a
manifest was written).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from dockyard.atomic import atomic_write
from dockyard.builder.graph.options import OutputSpec
from dockyard.digest import Digest

TYPE_CHECKING = False  # typing too: for type checkers only (tests/test_start_up.py)
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from dockyard.image.image import Image
    from dockyard.reference import Reference
    from dockyard.store.store import Store

def _open_dest(spec: OutputSpec) -> tuple[BinaryIO, bool]:
    if spec.stream is not None:
        return spec.stream, False
    return open_dest(spec.dest)


def open_dest(dest: str) -> tuple[BinaryIO, bool]:
    """The file an archive or tar output goes to (`-`: stdout); True: the caller closes it."""
    if dest == "-":
        return sys.stdout.buffer, False
    path = os.path.abspath(dest)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return open(path, "wb"), True


def write_archive(store: Store, image: Image, tags: list[Reference], spec: OutputSpec) -> Digest:
    """`type=docker|oci,dest=`: the image as an archive; returns its manifest's digest."""
    from dockyard.image import media
    from dockyard.image.manifest import Descriptor, oci_manifest_json
    from dockyard.transport.copy import copy
    from dockyard.transport.docker_archive import DockerArchiveSink
    from dockyard.transport.store import StoreSource

    out, close = _open_dest(spec)
    try:
        copy(StoreSource(store, [], built=[(image, tags)]), DockerArchiveSink(out))
        out.flush()
    finally:
        if close:
            out.close()
    return Digest.of_bytes(oci_manifest_json(  # the manifest the archive holds
        Descriptor(media.OCI_CONFIG, image.id, len(image.raw_config)),
        [Descriptor(media.OCI_LAYER, layer.diff_id, layer.size) for layer in image.layers]))


def write_filesystem(store: Store, layers: list[Digest], spec: OutputSpec) -> None:
    """`type=tar` / `type=local`: the final filesystem. The tar keeps owners; a local directory's
    files belong to whoever builds (the docker CLI writes them so), modes kept."""
    from dockyard.archive.diff import write_tree
    from dockyard.builder.rootfs import image_root

    with image_root(store, layers) as root:
        if spec.type == "tar" or spec.stream is not None:
            out, close = _open_dest(spec)
            try:
                write_tree(root, out)
                out.flush()
            finally:
                if close:
                    out.close()
            return
        with tempfile.TemporaryFile(dir=store.tmp) as spool:
            write_tree(root, spool)  # type: ignore[arg-type]
            spool.seek(0)
            extract_local(spool, spec.dest)  # type: ignore[arg-type]


def extract_local(tar: BinaryIO, dest: str) -> None:
    """`type=local`: the filesystem's tar into directory `dest`, owned by whoever builds."""
    from dockyard.archive.apply import apply_layer

    path = Path(os.path.abspath(dest))
    path.mkdir(parents=True, exist_ok=True)
    apply_layer(tar, path, whiteout_format="none", owner=(os.getuid(), os.getgid()))


def write_metadata(path: str, data: dict[str, Any]) -> None:
    atomic_write(Path(os.path.abspath(path)), json.dumps(data, indent=2).encode())


def write_iidfile(path: str, image_id: Digest) -> None:
    atomic_write(Path(os.path.abspath(path)), str(image_id).encode())
