"""The one writer of the layers dockyard makes itself: a container's storage layer (an overlay
upper dir: `commit`, a build's RUN) or a tar a producer writes (a build's COPY/ADD/WORKDIR).

The tar goes to a temp file under the store's tmp/, hashed on its way (the producer hashes what it
writes, or the scanner checks and hashes it), and becomes the layer by one rename
(`LayerStore.adopt`, which makes it durable first). Layers that come from outside (load, import,
pull) enter through `LayerStore.ingest` and the transports instead.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from dockyard.archive.diff import write_overlay_diff
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.errors import DockyardError
from dockyard.image.layer import EMPTY_TAR_DIFF_ID
from dockyard.store.layers import LayerStore, StoredLayer

__all__ = ["layer_from_directory", "write_layer"]

# Writes a layer tar to the file it is given; returns the tar's ScanResult, or None for no layer.
LayerProducer = Callable[[BinaryIO], "ScanResult | None"]


def write_layer(layers: LayerStore, produce: LayerProducer) -> StoredLayer | None:
    """The layer `produce` writes, stored; None when it writes none."""
    fd, name = tempfile.mkstemp(prefix="layer-", suffix=".tar", dir=layers.tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            result = produce(out)
            if result is None:
                return None
        return layers.adopt(Path(name), result)  # fsyncs it first, unless the layer is known
    finally:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def layer_from_directory(layers: LayerStore, upper: Path, *, keep_empty: bool = False) -> StoredLayer | None:
    """An overlay upper dir's changes as a layer; None when nothing changed (the empty tar), as
    Docker commits an empty diff as no layer, unless `keep_empty` (BuildKit keeps a step's
    empty layer)."""
    return write_layer(layers, lambda out: _scanned_overlay_diff(upper, out, keep_empty))


def _scanned_overlay_diff(upper: Path, out: BinaryIO, keep_empty: bool = False) -> ScanResult | None:
    """The diff's tar streamed through the scanner (checked and hashed while it is copied into
    `out`): the tar is written by a thread into a pipe that the scanner reads."""
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=1 << 20) as w:
                write_overlay_diff(upper, w)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        try:
            with os.fdopen(read_fd, "rb") as r:
                result = scan_copy(r, out)
        except DockyardError:
            worker.join()  # the read end is closed: a blocked writer fails and ends
            if errors:
                raise errors[0] from None
            raise
        worker.join()
        if errors:
            raise errors[0]
    finally:
        worker.join(timeout=5)
    return None if result.diff_id == EMPTY_TAR_DIFF_ID and not keep_empty else result
