"""A new image from a base: one layer appended (or none), one history entry, config changes.

The one place an image config is made from another, as go-containerregistry's mutate.Append and
moby's image.NewChildImage do it: each build step (the classic builder's commit), `commit` and
`import` (whose base is an empty config) call `append`. The stored image is then the caller's
business (`Store.add_image(image.raw_config, list(image.layers), parent=...)`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from dockyard.dataclass import replace
from dockyard.image.config import ContainerConfig, History, ImageConfig, now_rfc3339
from dockyard.image.image import Image

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

    from dockyard.image.layer import Layer

__all__ = ["DOCKER_VERSION", "append"]

# What images made here record as `docker_version` (Docker records the daemon's version).
DOCKER_VERSION = "dockyard-0.1.0"


def append(base: ImageConfig, base_layers: Sequence[Layer], layer: Layer | None, entry: History, *,
           config: ContainerConfig, author: str | None = None, comment: str | None = None,
           drop: Collection[str] = (), extra: Mapping[str, Any] | None = None,
           created: str | None = None) -> Image:
    """`base` (its config and its layers) with `layer` on top, or no layer (`entry` is then an
    `empty_layer` history entry), `config` as the run config, and the image's `author` and
    `comment`. Architecture, OS and variant stay the base's. The base's other top-level fields
    are kept except those named in `drop`; `extra` sets more, then `docker_version` is set
    (a kept key keeps its place: the config's bytes, so the image ID, depend on the order).
    The new config and the history entry get one creation time: `created`, or now."""
    created = created or now_rfc3339()
    fields = {k: v for k, v in base.extra.items() if k not in drop}
    fields.update(extra or {})
    fields["docker_version"] = DOCKER_VERSION
    layers = [*base_layers, layer] if layer is not None else list(base_layers)
    new = ImageConfig(
        architecture=base.architecture, os=base.os, created=created, author=author,
        comment=comment, config=config, diff_ids=[x.diff_id for x in layers],
        history=[*base.history, replace(entry, created=created, empty_layer=layer is None)],
        variant=base.variant, extra=fields)
    return Image(new.to_json(), tuple(layers))
