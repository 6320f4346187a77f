"""The tag time (Docker's LastTagTime): set by every tag, written without fsync, so a reader must
take a file a crash left empty or garbled as "no tag time"."""

from __future__ import annotations

import json
import os
import re

from dockyard.digest import Digest
from dockyard.reference import parse_normalized
from dockyard.store.store import Store

_FORMAT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


def test_tag_sets_the_tag_time_and_leaves_no_temp_file(dockyard, busybox, store_root):
    store = Store(store_root)
    image_id = Digest.parse(busybox)
    before = sorted(os.listdir(store_root / "images"))
    store.tag(image_id, parse_normalized("again:v1"))
    first = store.last_tag_time(image_id)
    assert first is not None and re.fullmatch(_FORMAT, first)
    store.tag(image_id, parse_normalized("again:v1"))
    assert (store.last_tag_time(image_id) or "") >= first
    names = sorted(os.listdir(store_root / "images"))
    assert [n for n in names if n not in before] in ([], [f".tagged-{image_id.hex}"])
    assert not [n for n in names if n.startswith(f".tagged-{image_id.hex}.")]  # no temp left


def test_an_empty_or_garbled_tag_time_reads_as_none(dockyard, busybox, store_root):
    store = Store(store_root)
    image_id = Digest.parse(busybox)
    path = store_root / "images" / f".tagged-{image_id.hex}"
    for content in (b"", b"\0\0\0\0\0\0\0\0", b"2024-01-0", b"\xff\xfe garbage", b"not a time"):
        path.write_bytes(content)
        assert store.last_tag_time(image_id) is None
    inspect = json.loads(dockyard("image", "inspect", "busybox").stdout)
    assert inspect[0]["Metadata"]["LastTagTime"] == "0001-01-01T00:00:00Z"  # Go's zero time
    path.write_bytes(b"2024-01-02T03:04:05.123456789Z")
    assert store.last_tag_time(image_id) == "2024-01-02T03:04:05.123456789Z"
