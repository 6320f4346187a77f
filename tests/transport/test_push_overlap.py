"""A push's serial parts overlap its layers: the config blob goes to the registry beside the
layers (its HEAD, POST, PATCH and PUT were the push's serial end), a layer compressed as it
is sent starts compressing before the registry answers the POST that opens its upload, and the
next layer starts once the bytes of one are sent, while the registry makes that blob durable."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import pytest

from dockyard.digest import Digest
from dockyard.errors import Unavailable
from dockyard.image.image import validate_image
from dockyard.reference import parse_normalized
from dockyard.store.store import Store
from dockyard.transport.adapter import StreamedBlob
from dockyard.transport.copy import PARALLEL, copy
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.registry.hosts import RegistrySettings
from dockyard.transport.registry.sink import RegistrySink
from dockyard.transport.registry.source import RegistrySource
from dockyard.transport.store import StoreSink, StoreSource
from tests.registry.registryd import RegistryServer
from tests.transport.test_copy_matrix import NAME, _seed
from tests.transport.test_pull_overlap import stored_image


class _ConfigFirst(RegistrySink):
    """Sends no layer byte before the config blob is in the registry: a copy that sends the
    config only after the layers never gets there (the wait fails)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.config_in = threading.Event()
        self.configs: list[Digest] = []

    def put_config(self, image_id: Digest, raw_config: bytes) -> None:
        super().put_config(image_id, raw_config)
        self.configs.append(image_id)
        self.config_in.set()

    def put_blob_stream(self, start: Callable[[], StreamedBlob],
                        on_progress: Callable[[int], None]) -> StreamedBlob:
        assert self.config_in.wait(30), "no config while the layers wait"
        return super().put_blob_stream(start, on_progress)


def test_the_config_goes_beside_the_layers(tmp_path: Path, registry: RegistryServer) -> None:
    seed, image_id = _seed(tmp_path / "seed")
    ref = parse_normalized(f"{registry.host}/overlap/config:v1")
    with ExitStack() as stack:
        client = stack.enter_context(RegistryClient(registry.host, RegistrySettings(), None))
        sink = _ConfigFirst(client, ref)
        copy(StoreSource(seed, [(image_id, [NAME])]), sink)
    assert sink.configs == [image_id, image_id]  # beside the layers, then put_image's (a no-op)
    requests = [(m, p) for m, p, _ in registry.requests() if "/overlap/config/" in p]
    assert [m for m, p in requests if p.endswith(f"/blobs/{image_id}")] == ["HEAD"]  # asked once
    assert requests[-1][0] == "PUT" and "/manifests/v1" in requests[-1][1]


class _Blob:
    """A stream that records when it was started and cancelled."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        log.append("start")
        self.digest, self.size = Digest.of_bytes(b"x"), 1

    def chunks(self):  # noqa: ANN201
        yield b"x"

    def cancel(self) -> None:
        self.log.append("cancel")


def test_a_streamed_layer_starts_before_its_post(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    client = RegistryClient("127.0.0.1:1", RegistrySettings(), None, sleep=lambda s: None)
    monkeypatch.setattr(client, "_start_upload", lambda repo: log.append("POST") or "http://x/u")
    monkeypatch.setattr(client, "_patch", lambda *a, **k: log.append("PATCH") or "http://x/u2")
    monkeypatch.setattr(client, "_finish_upload", lambda *a: log.append("PUT"))
    client.upload_stream("r", lambda: _Blob(log))
    assert log == ["start", "POST", "PATCH", "PUT"]

    def refused(repo: str) -> str:
        raise Unavailable("registry down")

    log.clear()
    monkeypatch.setattr(client, "_start_upload", refused)
    with pytest.raises(Unavailable):
        client.upload_stream("r", lambda: _Blob(log))
    assert log == ["start", "cancel"]  # a POST that fails stops the compressor it started


class _AnsweredAfterMore(RegistrySink):
    """Takes no layer as pushed before more than PARALLEL layers have begun: a copy whose slot
    stays taken until the registry has answered for a layer never begins one more (the wait
    fails)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.begun = 0
        self.more = threading.Event()
        self._lock = threading.Lock()

    def put_blob_stream(self, start: Callable[[], StreamedBlob],
                        on_progress: Callable[[int], None]) -> StreamedBlob:
        with self._lock:
            self.begun += 1
            if self.begun > PARALLEL:
                self.more.set()
        blob = super().put_blob_stream(start, on_progress)
        assert self.more.wait(30), f"{self.begun} layers begun while the first wait for their answers"
        return blob


def test_the_next_layer_starts_once_the_bytes_of_one_are_sent(tmp_path: Path, registry: RegistryServer) -> None:
    store, image_id = stored_image(tmp_path / "seed", PARALLEL + 2)
    ref = parse_normalized(f"{registry.host}/overlap/sent:v1")
    with ExitStack() as stack:
        client = stack.enter_context(RegistryClient(registry.host, RegistrySettings(), None))
        sink = _AnsweredAfterMore(client, ref)
        copy(StoreSource(store, [(image_id, [ref])]), sink)
    assert sink.begun == PARALLEL + 2
    requests = [(m, p) for m, p, _ in registry.requests() if "/overlap/sent/" in p]
    assert requests[-1][0] == "PUT" and "/manifests/v1" in requests[-1][1]
    pulled = Store(tmp_path / "pulled")
    with ExitStack() as stack:
        client = stack.enter_context(RegistryClient(registry.host, RegistrySettings(), None))
        copy(RegistrySource(client, ref), stack.enter_context(StoreSink(pulled, keep_compressed=True)))
    validate_image(pulled.image(image_id))
