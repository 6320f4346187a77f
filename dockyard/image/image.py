"""An image: the exact config bytes (whose sha256 is the image ID) and its ordered layers."""

from __future__ import annotations

from functools import cached_property

from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest, HashingReader
from dockyard.errors import DigestMismatch, InvalidArchive
from dockyard.image.config import ImageConfig

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from dockyard.image.layer import Layer


@dataclass(frozen=True)
class Image:
    """An image: its config as stored (its digest is the image ID) and its layers."""

    raw_config: bytes
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    @cached_property
    def config(self) -> ImageConfig:
        return ImageConfig.parse(self.raw_config)

    @cached_property
    def id(self) -> Digest:
        return Digest.of_bytes(self.raw_config)


def check_layers_match_config(image: Image) -> None:
    """The layers given must be exactly the config's rootfs diff IDs, in order."""
    claimed = [layer.diff_id for layer in image.layers]
    if claimed != image.config.diff_ids:
        raise InvalidArchive(
            f"image {image.id.short}: {len(claimed)} layers do not match the "
            f"{len(image.config.diff_ids)} diff IDs of its config"
        )


def validate_image(image: Image) -> None:
    """Recompute every digest and size of an image: the conformance check of every transport.
    (A layer read from a registry knows no uncompressed size: its size is None, and its stream
    checks the compressed blob's digest and size as it is read.)"""
    check_layers_match_config(image)
    for layer in image.layers:
        with layer.open() as stream:
            reader = HashingReader(stream)
            reader.drain()
        if reader.digest != layer.diff_id:
            raise DigestMismatch(
                f"layer {layer.diff_id}: content has digest {reader.digest}"
            )
        if layer.size is not None and reader.size != layer.size:
            raise InvalidArchive(
                f"layer {layer.diff_id}: size {reader.size}, expected {layer.size}"
            )
