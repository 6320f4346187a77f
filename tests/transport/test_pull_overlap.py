"""A pull's download slots are free as soon as a layer's bytes are in: the next layer's
download starts while the one before ends its scan (its last MiBs) and the store makes it
durable, as dockerd starts its next download before it extracts. The slots stay PARALLEL."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from contextlib import ExitStack
from pathlib import Path

from dockyard.digest import Digest
from dockyard.image.image import validate_image
from dockyard.reference import parse_normalized
from dockyard.store.store import Store
from dockyard.transport.copy import PARALLEL, copy
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.registry.hosts import RegistrySettings
from dockyard.transport.registry.sink import RegistrySink
from dockyard.transport.registry.source import RegistrySource
from dockyard.transport.store import StoreSink, StoreSource
from tests.registry.registryd import RegistryServer
from tests.store.helpers import make_tar

NAME = parse_normalized("overlap/pull:v1")


def stored_image(root: Path, layers: int) -> tuple[Store, Digest]:
    """A store with an image of `layers` distinct layers."""
    store = Store(root)
    stored = [store.layers.ingest(io.BytesIO(make_tar([(f"l{i}", None), (f"l{i}/data", hashlib.sha256(
        bytes([i])).digest() * 4096 * (i + 1))]))) for i in range(layers)]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"step {i}"} for i in range(layers)],
        "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id) for layer in stored]},
    }).encode()
    return store, store.add_image(config, stored).id


def _pushed(root: Path, registry: RegistryServer, layers: int) -> Digest:
    """An image of `layers` distinct layers, pushed to the registry as NAME's repository."""
    store, image_id = stored_image(root, layers)
    ref = parse_normalized(f"{registry.host}/{NAME.repository_path}:v1")
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        copy(StoreSource(store, [(image_id, [ref])]), RegistrySink(client, ref))
    return image_id


class _HeldUntilMore(StoreSink):
    """Stages no layer before more than PARALLEL downloads have begun: a copy whose download
    slot stays taken until the layer is staged never begins one more (the wait fails)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, keep_compressed=True)
        self.begun = 0
        self.more = threading.Event()
        self._lock = threading.Lock()

    def new_tree(self) -> Path | None:  # asked at the start of each compressed layer's download
        with self._lock:
            self.begun += 1
            if self.begun > PARALLEL:
                self.more.set()
        return super().new_tree()

    def stage_blob(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        assert self.more.wait(30), f"{self.begun} downloads begun while the first layers wait to be staged"
        return super().stage_blob(*args, **kwargs)


def test_the_next_download_starts_before_a_layer_is_staged(tmp_path: Path, registry: RegistryServer) -> None:
    image_id = _pushed(tmp_path / "seed", registry, PARALLEL + 2)
    store = Store(tmp_path / "pulled")
    ref = parse_normalized(f"{registry.host}/{NAME.repository_path}:v1")
    with ExitStack() as stack:
        client = stack.enter_context(RegistryClient(registry.host, RegistrySettings(), None))
        sink = stack.enter_context(_HeldUntilMore(store))
        copy(RegistrySource(client, ref), sink)
    assert sink.begun == PARALLEL + 2
    validate_image(store.image(image_id))
    for diff_id in store.image(image_id).config.diff_ids:
        assert store.layers.is_unpacked(diff_id)  # each tree made on the way, as before


def test_a_blob_is_made_durable_before_its_scan_ends(tmp_path: Path, registry: RegistryServer,
                                                     monkeypatch) -> None:  # noqa: ANN001
    """Once a layer's blob is in and verified, the sink settles it (the store fsyncs it) while
    the scan of its content still runs, not after: here no scan reads a byte before a blob is
    settled, which a copy that settles a blob after its scan never does (each scan times out)."""
    from dockyard.transport import streams

    image_id = _pushed(tmp_path / "seed", registry, 3)
    store = Store(tmp_path / "pulled")
    settled: list[str] = []
    some = threading.Event()
    real_scan = streams._scan

    def scan_after_a_settle(pipe, out, tree):  # noqa: ANN001, ANN202
        if not some.wait(30):
            out["error"] = AssertionError("no blob settled while the scans wait")
            pipe.cancel()
            return
        real_scan(pipe, out, tree)

    class Recording(StoreSink):
        def settle_blob(self, path: Path) -> None:
            settled.append(hashlib.sha256(path.read_bytes()).hexdigest())  # whole already
            super().settle_blob(path)
            some.set()

    monkeypatch.setattr(streams, "_scan", scan_after_a_settle)
    ref = parse_normalized(f"{registry.host}/{NAME.repository_path}:v1")
    with ExitStack() as stack:
        client = stack.enter_context(RegistryClient(registry.host, RegistrySettings(), None))
        source = RegistrySource(client, ref)
        copy(source, stack.enter_context(Recording(store, keep_compressed=True)))
    assert sorted(settled) == sorted(d.digest.hex for d in source.manifest.layers)
    validate_image(store.image(image_id))
    for diff_id in store.image(image_id).config.diff_ids:
        assert store.layers.is_unpacked(diff_id)
