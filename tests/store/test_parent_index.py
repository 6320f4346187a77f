"""The records' parent index (store/images.py): one listing of `images/` tells every image's
children, and it never tells a wrong or a missing child: whatever a crash or a concurrent writer
left, `parents()` equals what reading every record gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.builder.classic import cache
from dockyard.digest import Digest
from dockyard.store.images import ImageRecords
from dockyard.store.store import Store

REPO = Path(__file__).resolve().parents[2]


def _truth(store: Store) -> dict[str, list[str]]:
    """parent hex -> sorted children's hexes, from every record read."""
    out: dict[str, list[str]] = {}
    for image_id in store.records.ids():
        parent = store.records.get(image_id).parent
        out.setdefault(parent.hex if parent else "", []).append(image_id.hex)
    return {k: sorted(v) for k, v in out.items()}


def _index(store: Store) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in store.records.parents().items()}


def _entries(store: Store) -> list[str]:
    return sorted(n for n in os.listdir(store.records.root) if ".parent-" in n)


def _child(store: Store, parent: Digest | None, label: str, base: Digest) -> Digest:
    image = store.image(base)
    data = json.loads(image.raw_config)
    data["container_config"] = dict(data.get("container_config") or {}, Cmd=["/bin/sh", "-c", f"#(nop) LABEL x={label}"])
    return store.add_image(json.dumps(data).encode(), list(image.layers), parent=parent).id


@pytest.fixture
def chains(dockyard, busybox) -> tuple[Store, Digest, list[Digest]]:  # noqa: ANN001
    """busybox with two chains of 3 and a parentless image."""
    store = Store(dockyard.root)
    bb = Digest.parse(busybox)
    made = []
    for c in range(2):
        parent = bb
        for j in range(3):
            parent = _child(store, parent, f"{c}-{j}", bb)
            made.append(parent)
    made.append(_child(store, None, "orphan", bb))
    return store, bb, made


def test_the_index_equals_the_records(chains) -> None:  # noqa: ANN001
    store, bb, made = chains
    assert _index(store) == _truth(store)
    assert sorted(store.records.children(bb)) == sorted([made[0], made[3]])
    assert store.records.children(made[2]) == []
    assert made[6].hex in store.records.parents()[""]  # parentless: FROM scratch's candidates
    assert len(_entries(store)) == len(store.records.ids())


def test_the_lookup_reads_no_record(chains, monkeypatch) -> None:  # noqa: ANN001
    """The classic cache's children come from names alone (a store of many images costs one
    listing, not a read of each record)."""
    store, bb, made = chains
    reads: list[Digest] = []
    get = ImageRecords.get
    monkeypatch.setattr(ImageRecords, "get", lambda self, i: reads.append(i) or get(self, i))
    assert sorted(cache.ChildIndex(store).children(bb)) == sorted([made[0], made[3]])
    assert reads == []


def test_a_store_without_the_index_is_read_and_indexed(chains, monkeypatch) -> None:  # noqa: ANN001
    """A store written before the index (or a host crash that kept a record's rename but not its
    entry): the records without an entry are read, so none is missed, and get their entry."""
    store, bb, made = chains
    truth = _truth(store)
    for name in _entries(store):
        os.unlink(store.records.root / name)
    reads: list[Digest] = []
    get = ImageRecords.get
    monkeypatch.setattr(ImageRecords, "get", lambda self, i: reads.append(i) or get(self, i))
    assert _index(store) == truth
    assert len(reads) == len(store.records.ids())
    assert len(_entries(store)) == len(store.records.ids())
    reads.clear()
    assert _index(store) == truth and reads == []


def test_an_entry_without_a_record_is_no_child(chains) -> None:  # noqa: ANN001
    """A writer killed between the entry and the record, or an rmi between the record and the
    entry: the entry names no image."""
    store, bb, made = chains
    ghost = Digest("sha256", "ab" * 32)
    store.records._mark(ghost, bb)  # noqa: SLF001 - the state a killed writer leaves
    assert ghost.hex not in store.records.parents()[bb.hex]
    assert _index(store) == _truth(store)
    assert ghost not in cache.ChildIndex(store).children(bb)
    # the collector's pass after a crash drops it, and only it
    entries = _entries(store)
    assert any(n.startswith(ghost.hex) for n in entries)
    store.collect(thorough=True)
    assert _entries(store) == [n for n in entries if not n.startswith(ghost.hex)]
    assert _index(store) == _truth(store)


def test_a_reparented_record_moves_and_two_entries_are_read(chains, monkeypatch) -> None:  # noqa: ANN001
    """set_parent (a classic --cache-from build): the new parent's entry replaces the old one;
    a crash that leaves both makes the record be read (one entry alone is trusted)."""
    store, bb, made = chains
    orphan = made[6]
    store.set_parent(orphan, made[2])
    assert _index(store) == _truth(store)
    assert orphan in store.records.children(made[2])
    assert [n for n in _entries(store) if n.startswith(orphan.hex)] == [f"{orphan.hex}.parent-{made[2].hex}"]
    store.records._mark(orphan, None)  # noqa: SLF001 - the old entry a crash left behind
    truth = _truth(store)
    reads: list[Digest] = []
    get = ImageRecords.get
    monkeypatch.setattr(ImageRecords, "get", lambda self, i: reads.append(i) or get(self, i))
    assert _index(store) == truth
    assert reads == [orphan]
    assert orphan.hex not in store.records.parents().get("", [])


def test_rmi_removes_the_entries(chains, dockyard) -> None:  # noqa: ANN001
    store, bb, made = chains
    dockyard("rmi", str(made[5]), str(made[6]))  # made[5] with its untagged parents
    assert not any(store.records.exists(i) for i in made[3:])
    assert _index(store) == _truth(store)
    assert len(_entries(store)) == len(store.records.ids())
    assert store.records.children(bb) == [made[0]]
    r = dockyard("rmi", str(made[0]), check=False)
    assert r.returncode != 0 and "dependent child images" in r.stderr


WRITER = """
import json, sys
from dockyard.digest import Digest
from dockyard.store.store import Store
store = Store(__import__("pathlib").Path(sys.argv[1]))
base = Digest.parse(sys.argv[2])
image = store.image(base)
data = json.loads(image.raw_config)
parent = base
for i in range(40):
    data["container_config"] = {"Cmd": ["#(nop) LABEL w=" + sys.argv[3] + "-" + str(i)]}
    image_id = store.add_image(json.dumps(data).encode(), list(image.layers), parent=parent, publish=False).id
    parent = image_id if i % 2 else base
"""


def test_readers_beside_writers_see_no_wrong_child(dockyard, busybox) -> None:  # noqa: ANN001
    """Two processes add images while this one reads the index: every child it tells has that
    parent (when its record is there), and when the writers are done, none is missing."""
    store = Store(dockyard.root)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(dockyard.root), busybox, str(w)], env=env)
               for w in range(2)]
    reads = 0
    while any(w.poll() is None for w in writers) or reads == 0:
        for parent, children in store.records.parents().items():
            for child in children:
                record = store.records.get(Digest("sha256", child))  # no image is deleted here
                assert (record.parent.hex if record.parent else "") == parent
        reads += 1
    assert [w.wait() for w in writers] == [0, 0]
    assert _index(store) == _truth(store)
    assert sum(len(v) for v in store.records.parents().values()) == 81
