"""The conformance matrix of the transports (local store, docker-archive, OCI layout, and the
real registry on 127.0.0.1): an image written with every transport is read with every other,
copied on, read back, and validated (every digest, diff ID and size recomputed; a registry
layer's stream checks its blob's digest and size as it is read)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import pytest

from dockyard.digest import Digest
from dockyard.errors import DigestMismatch, NotFound
from dockyard.image.image import Image, validate_image
from dockyard.reference import parse_normalized
from dockyard.store.store import Store
from dockyard.transport.adapter import ImageSink, ImageSource, SourceImage
from dockyard.transport.archive import ArchiveSource
from dockyard.transport.copy import copy
from dockyard.transport.docker_archive import DockerArchiveSink
from dockyard.transport.oci_layout import OciLayoutSink
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.registry.hosts import RegistrySettings
from dockyard.transport.registry.sink import RegistrySink
from dockyard.transport.registry.source import RegistrySource
from dockyard.transport.store import StoreSink, StoreSource
from tests.registry.registryd import RegistryServer
from tests.store.helpers import make_tar, snapshot

NAME = parse_normalized("matrix/img:v1")


def _seed(root: Path) -> tuple[Store, Digest]:
    """A store with a three-layer image (one layer twice), whose layers hold files, a symlink and
    a directory; each layer tar is padded differently, as real tars are."""
    store = Store(root)
    tars = [make_tar([("etc", None), ("etc/hostname", b"matrix\n"), ("bin/sh", b"#!" + bytes(range(256)) * 64)]),
            make_tar([("data", None), ("data/big", hashlib.sha256(b"x").digest() * 40000)]),
            make_tar([("etc/hostname", b"changed\n")]) + b"\0" * 10240]
    layers = [store.layers.ingest(io.BytesIO(t)) for t in tars]
    layers.append(layers[0])
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "created": "2024-01-01T00:00:00Z",
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"step {i}"} for i in range(4)],
        "rootfs": {"type": "layers", "diff_ids": [str(l.diff_id) for l in layers]},
    }).encode()
    image = store.add_image(config, layers)
    store.tag(image.id, NAME)
    return store, image.id


class Transport:
    """How the matrix writes into and reads from one transport kind, at `where`."""

    name = ""

    def __init__(self, where: Path, registry: RegistryServer) -> None:
        self.where, self.registry = where, registry

    def sink(self, stack: ExitStack) -> ImageSink:
        raise NotImplementedError

    def source(self, stack: ExitStack, image_id: Digest) -> ImageSource:
        raise NotImplementedError

    def names_kept(self) -> bool:
        return True


class StoreTransport(Transport):
    name = "store"

    def sink(self, stack: ExitStack) -> ImageSink:
        return stack.enter_context(StoreSink(Store(self.where)))

    def source(self, stack: ExitStack, image_id: Digest) -> ImageSource:
        store = Store(self.where)
        return StoreSource(store, [(image_id, [r for r in store.references(image_id) if r.digest is None])])


class _ArchiveTransport(Transport):
    make: Callable

    def sink(self, stack: ExitStack) -> ImageSink:
        out = stack.enter_context(open(self.where, "wb"))
        return type(self).make(out)

    def source(self, stack: ExitStack, image_id: Digest) -> ImageSource:
        stream = stack.enter_context(open(self.where, "rb"))
        tmp = self.where.parent / f"{self.where.name}-spool"
        return stack.enter_context(ArchiveSource(stream, tmp))


class DockerArchiveTransport(_ArchiveTransport):
    name = "docker-archive"
    make = DockerArchiveSink


class OciLayoutTransport(_ArchiveTransport):
    name = "oci-layout"
    make = OciLayoutSink


class RegistryTransport(Transport):
    """A repository of the registry, named after `where`; it keeps the one name it is pushed as."""

    name = "registry"

    def ref(self):  # noqa: ANN201
        test = re.sub("[^a-z0-9]+", "-", self.where.parent.name.lower()).strip("-")
        return parse_normalized(f"{self.registry.host}/matrix/{test}-{self.where.name}:v1")

    def client(self, stack: ExitStack) -> RegistryClient:
        return stack.enter_context(RegistryClient(self.registry.host, RegistrySettings(), None))

    def sink(self, stack: ExitStack) -> ImageSink:
        return RegistrySink(self.client(stack), self.ref())

    def source(self, stack: ExitStack, image_id: Digest) -> ImageSource:
        return RegistrySource(self.client(stack), self.ref())

    def names_kept(self) -> bool:
        return False


TRANSPORTS = [StoreTransport, DockerArchiveTransport, OciLayoutTransport, RegistryTransport]


def _read_back(transport: Transport, image_id: Digest) -> SourceImage:
    with ExitStack() as stack:
        images = transport.source(stack, image_id).images()
        assert [i.id for i in images] == [image_id]
        image = images[0]
        validate_image(Image(image.raw_config(), tuple(image.layers())))  # type: ignore[arg-type]
        return image


@pytest.mark.parametrize("writer", TRANSPORTS, ids=lambda t: t.name)
@pytest.mark.parametrize("reader", TRANSPORTS, ids=lambda t: t.name)
def test_written_by_one_transport_read_by_another(tmp_path: Path, registry: RegistryServer,
                                                   writer: type[Transport], reader: type[Transport]) -> None:
    seed, image_id = _seed(tmp_path / "seed")
    first, second = writer(tmp_path / "first", registry), reader(tmp_path / "second", registry)
    with ExitStack() as stack:
        copy(StoreSource(seed, [(image_id, [NAME])]), first.sink(stack))
    with ExitStack() as stack:
        copy(first.source(stack, image_id), second.sink(stack))
    image = _read_back(second, image_id)
    assert image.raw_config() == seed.image(image_id).raw_config
    assert [l.diff_id for l in image.layers()] == [l.diff_id for l in seed.image(image_id).layers]
    if second.names_kept() and first.names_kept():
        assert image.names == [NAME]
    if isinstance(second, RegistryTransport):
        # What the registry holds is what a push sends: the manifest it keeps names the config.
        manifest = json.loads(image.manifests()[0])
        assert manifest["config"]["digest"] == str(image_id)


@pytest.mark.skipif(shutil.which("umoci") is None or shutil.which("skopeo") is None,
                    reason="umoci and skopeo are the peers that read OCI layouts")
def test_peers_read_the_oci_layout_we_write(tmp_path: Path) -> None:
    seed, image_id = _seed(tmp_path / "seed")
    archive = tmp_path / "layout.tar"
    with open(archive, "wb") as out:
        copy(StoreSource(seed, [(image_id, [NAME])]), OciLayoutSink(out))
    layout = tmp_path / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    stat = json.loads(subprocess.run(["umoci", "stat", "--image", f"{layout}:v1", "--json"],
                                     check=True, capture_output=True).stdout)
    assert [h["diff_id"] for h in stat["history"]] == [str(l.diff_id) for l in seed.image(image_id).layers]
    # skopeo checks every blob against its digest as it copies.
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{archive}", f"dir:{tmp_path / 'dir'}"],
                   check=True, capture_output=True)
    assert hashlib.sha256((tmp_path / "dir" / image_id.hex).read_bytes()).hexdigest() == image_id.hex


@pytest.mark.parametrize("writer", TRANSPORTS, ids=lambda t: t.name)
def test_a_layer_that_does_not_match_its_diff_id_reaches_no_sink(tmp_path: Path, registry: RegistryServer,
                                                                writer: type[Transport]) -> None:
    """One flipped byte inside a file of a layer (the tar stays a valid tar): every sink refuses
    the image, the store shows nothing new, the registry has no tag."""
    seed, image_id = _seed(tmp_path / "seed")
    archive = tmp_path / "good.tar"
    with open(archive, "wb") as out:
        copy(StoreSource(seed, [(image_id, [NAME])]), DockerArchiveSink(out))
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    name = f"blobs/sha256/{seed.image(image_id).layers[1].diff_id.hex}"
    at = files[name].index(hashlib.sha256(b"x").digest())
    files[name] = files[name][:at] + bytes([files[name][at] ^ 1]) + files[name][at + 1:]
    bad = DockerArchiveTransport(tmp_path / "bad.tar", registry)
    bad.where.write_bytes(make_tar(list(files.items())))
    target = writer(tmp_path / "target", registry)
    if isinstance(target, StoreTransport):
        Store(target.where)
    before = snapshot(target.where) if isinstance(target, StoreTransport) else None
    with ExitStack() as stack, pytest.raises(DigestMismatch):
        copy(bad.source(stack, image_id), target.sink(stack))
    if before is not None:
        assert snapshot(target.where) == before
    if isinstance(target, RegistryTransport):
        with ExitStack() as stack, pytest.raises(NotFound):
            target.source(stack, image_id)
