"""BuildKit's exporters: where a solved build goes (`--output`), and what it reports.

- (no --output), `type=docker`, `type=image`: the image into the store, tagged with `-t`;
- `type=docker,dest=FILE`: a `docker save` archive (loadable by `docker load`), not stored;
- `type=oci,dest=FILE`: an OCI image layout tarball (the same writer: its layout is OCI);
- `type=tar,dest=FILE`: the final filesystem as one tar;
- `type=local,dest=DIR`: the final filesystem written into a directory (build artifacts out);
- `-o DIR` is `type=local,dest=DIR`, `-o -` is `type=tar,dest=-` (stdout).
As a client of `dockyard serve`, the daemon writes no file: it sends the bytes to the client
(`OutputSpec.stream`; a local directory travels as a tar), which writes or extracts them here.
`--iidfile` gets the image ID (config digest); `--metadata-file` a JSON object as buildx
writes it (`containerimage.config.digest`, `image.name`, and `containerimage.digest` when a
manifest was written).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from dockyard.archive.apply import apply_layer
from dockyard.archive.diff import write_tree
from dockyard.builder.rootfs import image_root
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, NotImplementedFeature
from dockyard.image.image import Image
from dockyard.reference import Reference
from dockyard.atomic import atomic_write
from dockyard.store.store import Store

OUTPUT_TYPES = ("docker", "image", "oci", "tar", "local")


@dataclass(frozen=True)
class OutputSpec:
    type: str
    dest: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    # set: the bytes go there (to a client of serve; `local` as a tar), `dest` only names them
    stream: BinaryIO | None = field(default=None, compare=False)

    @property
    def stores_image(self) -> bool:
        return self.type in ("docker", "image") and not self.dest


def parse_output(text: str) -> OutputSpec:
    if "=" not in text and "," not in text:
        if text == "-":
            return OutputSpec("tar", "-")
        return OutputSpec("local", text)
    attrs: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidParameter(f"invalid value {part} for --output")
        attrs[key.strip().lower()] = value
    kind = attrs.pop("type", "")
    if not kind:
        kind = "local" if "dest" in attrs else ""
    if kind == "registry":
        raise NotImplementedFeature("--output type=registry is not supported: build, then `dockyard push`")
    if kind not in OUTPUT_TYPES:
        raise InvalidParameter(f"unsupported output type {kind!r} (use docker, oci, tar or local)")
    dest = attrs.pop("dest", "")
    for key in list(attrs):
        if key not in ("name",):
            raise InvalidParameter(f"unsupported --output attribute {key!r} for type={kind}")
    if kind in ("oci", "tar", "local") and not dest:
        raise InvalidParameter(f"dest is required for type={kind} output")
    return OutputSpec(kind, dest, attrs)


def parse_outputs(values: list[str]) -> OutputSpec:
    if not values:
        return OutputSpec("docker")
    if len(values) > 1:
        raise InvalidParameter("multiple outputs are not supported")
    return parse_output(values[0])


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
    path = Path(os.path.abspath(dest))
    path.mkdir(parents=True, exist_ok=True)
    apply_layer(tar, path, whiteout_format="none", owner=(os.getuid(), os.getgid()))


def write_metadata(path: str, data: dict[str, Any]) -> None:
    atomic_write(Path(os.path.abspath(path)), json.dumps(data, indent=2).encode())


def write_iidfile(path: str, image_id: Digest) -> None:
    atomic_write(Path(os.path.abspath(path)), str(image_id).encode())
