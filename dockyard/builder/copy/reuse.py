"""The members of a COPY's layer tar that the next layer of the same COPY may take byte for
byte from it: a context file's member (its header, body and padding) is a function of its
header's bytes and its content, so a file whose record (store/filesums.py) gives the content's
digest, and whose header encodes to the same bytes, has the member the last layer's tar has.
That member is copied from the last layer.tar in the kernel (copy_file_range: runs of adjacent
members in one call) instead of the file being opened, read and written again: a context of
10,000 files in which one changed reads one file.

An index (`LayerStore.put_members`, a hint kept beside the layer) gives each such member of a
tar: name -> [offset, length, key], where key is `member_key` of its header's bytes and its
content's digest. Only members whose digest their writer knew (the file did not change while it
was read) are indexed."""

from __future__ import annotations

import os

from dockyard.digest import small_sha256
from dockyard.errors import DockyardError

__all__ = ["Members", "member_key"]


def member_key(header: bytes, content: str) -> str:
    """What identifies a file's member: its header's bytes and its content's sha256 (hex)."""
    return small_sha256(header + content.encode()).hexdigest()[:32]


class Members:
    """The last layer's tar (`fd`, None when there is none to copy from) and its index (`old`),
    and the index of the layer being written (`new`, filled by the writer). `close` once the
    layer and its tree are done."""

    def __init__(self, fd: int | None = None, old: dict[str, list] | None = None) -> None:
        self.fd = fd
        self.old = old if fd is not None and old else {}
        self.new: dict[str, list] = {}
        self.of_like = False   # the layer's tree being made links like's files, and like is this tar's tree

    @classmethod
    def of_tar(cls, tar: str, old: dict[str, list]) -> "Members":
        """The members of the tar file `tar`, indexed by `old` (none when either is missing)."""
        if not old:
            return cls()
        try:
            fd = os.open(tar, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return cls()
        return cls(fd, old)

    def find(self, name: str, key: str, length: int) -> int | None:
        """The offset of the member `name` of this key and length in the last tar, or None."""
        old = self.old.get(name)
        if old is None or len(old) != 3 or old[2] != key or old[1] != length or not isinstance(old[0], int):
            return None
        return old[0]

    def copy(self, out: int, start: int, end: int) -> None:
        """The last tar's bytes [start, end) appended to the file `out` at its offset."""
        assert self.fd is not None
        while start < end:
            n = os.copy_file_range(self.fd, out, end - start, start)
            if n <= 0:
                raise DockyardError("the last layer's tar is shorter than its index says")
            start += n

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.old = {}
