"""The tag time (Docker's LastTagTime): set by every tag, kept as the mtime of an empty stamp file
(one inode update, no temp file, no rename); a stamp an older store wrote holds the time as text."""

from __future__ import annotations

import json
import os
import re

from dockyard.digest import Digest
from dockyard.reference import parse_normalized
from dockyard.store.store import Store

_FORMAT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}000Z"  # as now_rfc3339 writes times


def test_every_tag_sets_the_tag_time_in_place(dockyard, busybox, store_root):
    store = Store(store_root)
    image_id = Digest.parse(busybox)
    stamp = store_root / "images" / f".tagged-{image_id.hex}"
    store.tag(image_id, parse_normalized("again:v1"))
    first = store.last_tag_time(image_id)
    assert first is not None and re.fullmatch(_FORMAT, first), first
    inode = stamp.stat().st_ino
    os.utime(stamp, ns=(1_000_000_000, 1_000_000_000))
    assert store.last_tag_time(image_id) == "1970-01-01T00:00:01.000000000Z"
    store.tag(image_id, parse_normalized("again:v1"))  # the name is there already: a rebuild
    second = store.last_tag_time(image_id)
    assert second is not None and second >= first
    assert stamp.stat().st_ino == inode and stamp.stat().st_size == 0
    assert [n for n in os.listdir(store_root / "images") if n.startswith(".tagged-")] == [stamp.name]
    inspect = json.loads(dockyard("image", "inspect", "again:v1").stdout)
    assert inspect[0]["Metadata"]["LastTagTime"] == second


def test_an_older_stores_stamp_with_the_time_as_text(dockyard, busybox, store_root):
    store = Store(store_root)
    image_id = Digest.parse(busybox)
    stamp = store_root / "images" / f".tagged-{image_id.hex}"
    stamp.write_bytes(b"2024-01-02T03:04:05.123456789Z")
    assert store.last_tag_time(image_id) == "2024-01-02T03:04:05.123456789Z"
    for content in (b"\0\0\0\0\0\0\0\0", b"2024-01-0", b"\xff\xfe garbage", b"not a time"):
        stamp.write_bytes(content)
        assert store.last_tag_time(image_id) is None
    inspect = json.loads(dockyard("image", "inspect", "busybox").stdout)
    assert inspect[0]["Metadata"]["LastTagTime"] == "0001-01-01T00:00:00Z"  # Go's zero time
    store.tag(image_id, parse_normalized("busybox"))  # the next tag turns it into an mtime stamp
    assert stamp.stat().st_size == 0
    assert re.fullmatch(_FORMAT, store.last_tag_time(image_id) or "")


def test_rmi_removes_the_stamp(dockyard, busybox, store_root):
    image_id = Digest.parse(busybox)
    Store(store_root).tag(image_id, parse_normalized("busybox"))
    assert (store_root / "images" / f".tagged-{image_id.hex}").exists()
    dockyard("rmi", "busybox")
    assert not (store_root / "images" / f".tagged-{image_id.hex}").exists()
