"""Layers: a diff known by its diff ID, streamed as an uncompressed tar."""

from __future__ import annotations

from dockyard.digest import Digest, small_sha256

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from collections.abc import Iterable
    from contextlib import AbstractContextManager
    from typing import BinaryIO, Protocol

    # for type checkers only: nothing checks a layer against it at run time
    class Layer(Protocol):
        """What every source of layers provides; everything else is derived from it."""

        @property
        def diff_id(self) -> Digest: ...

        @property
        def size(self) -> int:
            """Length in bytes of the uncompressed tar."""
            ...

        def open(self) -> AbstractContextManager[BinaryIO]:
            """The uncompressed layer tar, whose sha256 is `diff_id`."""
            ...


def chain_ids(diff_ids: Iterable[Digest]) -> list[Digest]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            text = f"{out[-1]} {diff_id}".encode()
            out.append(Digest("sha256", small_sha256(text).hexdigest()))
    return out


# The sha256 of an empty tar archive (1024 zero bytes), which Docker uses for empty layers.
EMPTY_TAR_DIFF_ID = Digest.parse(
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
)
