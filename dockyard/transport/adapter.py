"""What `copy` works over: the images and layers a source yields, and the three kinds of sink.

A source (the local store, an image archive, a registry) yields `SourceImage`s: a config known by
its digest (the image ID), layers known by their diff IDs, the names the image carries there and
the registry manifests it came with. A `SourceLayer` streams its uncompressed tar and says which
compressed blobs are known for it; the source reads those blobs.

Sinks differ in what they take, and `copy` feeds each the way it can take a layer:
  - a `TarSink` (docker-archive, OCI layout) writes uncompressed tars, one after another;
  - a `StagingSink` (the local store) adopts files `copy` filled and checked in its staging
    directory, and makes everything visible at `finish`;
  - a `BlobSink` (a registry) takes compressed blobs, and may already have them or mount them.
Verification, concurrency, progress and the choice of a kept manifest belong to `copy`; the
adapters only read and write their format.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Protocol

from dockyard.archive.scan import ScanResult
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.image.manifest import Descriptor
from dockyard.reference import Reference

# dockerd's errRootFSMismatch (distribution/pull_v2.go): a registry image's layers are not the ones
# its config lists (their number, or a blob's content)
MANIFEST_MISMATCH = "layers from manifest don't match image configuration"


@dataclass
class SourceLayer:
    """A layer as a source has it; implements the `image.layer.Layer` protocol (size may be None)."""

    diff_id: Digest
    size: int | None                              # bytes of the uncompressed tar, when known
    opener: Callable[[], AbstractContextManager[BinaryIO]] = field(repr=False)
    forms: tuple[Descriptor, ...] = ()            # compressed blobs known for the layer
    checked: ScanResult | None = None           # the tar was checked and hashed as it arrived...
    tar_file: Path | None = None                  # ...and these are its bytes
    name: str = ""                                # for messages: where the source keeps it

    def open(self) -> AbstractContextManager[BinaryIO]:
        """The uncompressed layer tar."""
        return self.opener()


class SourceImage:
    """An image in a source: its ID first; config and layers read when `copy` needs them."""

    def __init__(self, image_id: Digest, *, names: list[Reference] | None = None,
                 manifests: list[bytes] | None = None,
                 repo_digests: list[tuple[Reference, bytes]] | None = None) -> None:
        self.id = image_id
        self.names = names or []  # its tags there
        # Repository digests (Docker's RepoDigests): a repository and the manifest bytes whose
        # digest pins the image in it. Only a registry gives them: a digest is a promise about
        # content that only a verified manifest can make, never a name an archive carries.
        self.repo_digests = repo_digests or []
        self._manifests = manifests or []

    def raw_config(self) -> bytes:
        raise NotImplementedError

    def manifests(self) -> list[bytes]:
        """Registry manifests of the image, their exact bytes, oldest first."""
        return self._manifests

    def layers(self) -> list[SourceLayer]:
        raise NotImplementedError


class ImageSource:
    """Where images come from; what a source lacks has the defaults below."""

    remote = False    # reading means downloading (progress as `docker pull` shows it)
    trusted = False   # every byte was verified when it entered (the local store)

    def images(self) -> list[SourceImage]:
        raise NotImplementedError

    def blob_file(self, layer: SourceLayer, digest: Digest) -> Path | None:
        """A local file holding the blob `digest` of `layer`, if the source has one."""
        return None

    def blob_chunks(self, layer: SourceLayer, desc: Descriptor) -> Iterator[bytes] | None:
        """The bytes of a compressed blob of `layer` as they arrive (unverified), or None when the
        source has no bytes for it (it only knows the digest, made for an earlier push)."""
        return None

    def note_compressed(self, diff_id: Digest, desc: Descriptor) -> None:
        """Remember a compressed blob made of the layer, so the next copy need not make it."""

    def locations(self, diff_id: Digest, host: str) -> list[str]:
        """Repositories of the registry `host` known to hold the layer: where it may be mounted from."""
        return []


class ImageSink:
    """Where images go. `copy` puts each image's layers, then the image, then calls `finish`."""

    remote = False    # writing means uploading (progress as `docker push` shows it)
    parallel = False  # layers may be put from several threads at once

    def has_image(self, image_id: Digest) -> bool:
        return False

    def has_layer(self, diff_id: Digest, blob: Digest | None = None) -> Descriptor | None:
        """What the sink has of the layer already (it is not moved again), or None. With `blob`
        (a download's compressed digest), only a layer the sink knows that blob to hold: a
        registry's word that the blob is the layer is not taken on trust."""
        return None

    def put_image(self, image: SourceImage, raw_config: bytes | None, layers: list[Descriptor],
                  manifest: bytes | None) -> None:
        """After its layers: the image. `raw_config` is None when the sink has the image already;
        `layers` describe what the sink got; `manifest` is a kept registry manifest to send as it is."""
        raise NotImplementedError

    def finish(self) -> None:
        """Every image is in: make them visible (a sink that stages) or close the format."""


class TarSink(ImageSink):
    """Takes uncompressed layer tars of known size, one after another (an archive)."""

    tmp: Path | None = None  # where a tar of unknown size is spooled first (None: the system's)

    def put_tar(self, diff_id: Digest, stream: BinaryIO, size: int) -> Descriptor:
        raise NotImplementedError


class StagingSink(ImageSink):
    """Adopts files `copy` filled and checked in `staging` (the same filesystem); nothing is
    visible before `finish`."""

    staging: Path
    keep_compressed = False  # keep a layer's compressed blob (pulled layers: a push sends it again)

    def stage_tar(self, path: Path, scan: ScanResult) -> Descriptor:
        raise NotImplementedError

    def stage_blob(self, path: Path, desc: Descriptor, scan: ScanResult, tree: Path | None = None) -> Descriptor:
        """A compressed blob, and `tree`, its content unpacked (a `new_tree` the copy filled)."""
        raise NotImplementedError

    def new_tree(self) -> Path | None:
        """An empty directory to unpack a layer into while it downloads (None: the sink keeps
        no trees)."""
        return None

    def settle_blob(self, path: Path) -> None:
        """A downloaded blob, whole and verified, whose content's scan may still be running:
        what `stage_blob` would wait for first, done ahead, beside the scan's end (the store
        makes its data durable)."""
        return None


class StreamedBlob(Protocol):
    """Bytes made while they are sent; digest and size are known once `chunks` is exhausted."""

    digest: Digest
    size: int

    def chunks(self) -> Iterator[bytes]: ...

    def cancel(self) -> None: ...


class BlobSink(ImageSink):
    """Takes compressed blobs (a registry), which it may have already or mount."""

    host: str                 # the registry
    compression: str | None   # None: resend a kept manifest as it is, else make gzip blobs;
                              # "gzip"/"zstd": blobs of that compression only

    def has_blob(self, digest: Digest) -> bool:
        raise NotImplementedError

    def mount(self, digest: Digest, repository: str) -> bool:
        """Take the blob from another repository of the same registry; False when not possible."""
        return False

    def put_blob_file(self, desc: Descriptor, path: Path, on_progress: Callable[[int], None]) -> None:
        raise NotImplementedError

    def put_blob_stream(self, start: Callable[[], StreamedBlob],
                        on_progress: Callable[[int], None]) -> StreamedBlob:
        """Send a blob made while it is sent; `start` makes a fresh stream for each attempt."""
        raise NotImplementedError

    def put_config(self, image_id: Digest, raw_config: bytes) -> None:
        """Send an image's config blob unless the sink has it (`put_image` then skips it)."""
        raise NotImplementedError
