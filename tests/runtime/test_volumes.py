"""Named volumes of the local driver: records, names, in-use checks, prune, copy-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.runtime.volumes import Volumes


def test_create_inspect_list_remove(store_root: Path) -> None:
    vols = Volumes(store_root)
    v = vols.create("data", labels={"k": "v"})
    assert v.to_docker() == {"CreatedAt": v.created.split(".")[0] + "Z", "Driver": "local",
                             "Labels": {"k": "v"}, "Mountpoint": str(store_root / "volumes/data/_data"),
                             "Name": "data", "Options": None, "Scope": "local"}
    assert vols.create("data").labels == {"k": "v"}         # idempotent, as Docker's
    anon = vols.create()
    assert anon.anonymous and len(anon.name) == 64
    assert [x.name for x in vols.all()] == sorted(["data", anon.name])
    with pytest.raises(InvalidParameter, match="includes invalid characters"):
        vols.create("a/b")
    with pytest.raises(InvalidParameter, match='create xy: missing required option: "device"'):
        vols.create("xy", options={"type": "tmpfs"})     # dockerd's check (tests/interop/test_volume_options)
    with pytest.raises(NotFound, match='plugin "nfs" not found'):
        vols.create("x", driver="nfs")
    assert not (store_root / "volumes" / "x").exists()
    long = "a" * 300   # longer than a file name may be: refused (dockerd fails its mkdir, 500)
    with pytest.raises(InvalidParameter, match="file name too long"):
        vols.create(long)
    with pytest.raises(NotFound, match="no such volume"):   # was OSError ENAMETOOLONG (500)
        vols.get(long)
    vols.remove(long, lambda name: [], force=True)
    with pytest.raises(Conflict, match=r"remove data: volume is in use - \[abc\]"):
        vols.remove("data", lambda name: ["abc"])
    vols.remove("data", lambda name: [])
    with pytest.raises(NotFound, match="get data: no such volume"):
        vols.get("data")
    vols.remove("data", lambda name: [], force=True)


def test_a_removal_cut_short_leaves_nothing_to_a_new_volume(store_root: Path) -> None:
    """A `volume rm` killed midway (after its record, before the last file) left the rest of
    the volume under its name: a later create of that name took it up, old files and all."""
    vols = Volumes(store_root)
    vols.create("data")
    (vols.data("data") / "old").write_text("the old volume's")
    (store_root / "volumes" / "data" / "volume.json").unlink()   # where the kill -9 came
    assert [v.name for v in vols.all()] == []
    assert list(vols.data(vols.create("data").name).iterdir()) == []
    # a removal's folder a crash left renamed goes with the next removal
    (store_root / "volumes" / ".discarded-0123").mkdir()
    (store_root / "volumes" / ".discarded-0123" / "f").write_text("x")
    vols.remove("data", lambda name: [])
    assert list((store_root / "volumes").iterdir()) == []


def test_prune(store_root: Path) -> None:
    vols = Volumes(store_root)
    named, used, anon = vols.create("named"), vols.create("used"), vols.create()
    (Path(anon.mountpoint) / "f").write_bytes(b"x" * 100)
    users = lambda name: ["c1"] if name == "used" else []  # noqa: E731
    removed, freed = vols.prune(users, anonymous_only=True)
    assert removed == [anon.name] and freed == 100
    removed, _ = vols.prune(users, anonymous_only=False)
    assert removed == [named.name]
    assert [v.name for v in vols.all()] == ["used"]


def test_copy_up_only_into_an_empty_volume(store_root: Path, tmp_path: Path) -> None:
    src = tmp_path / "image-dir"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file").write_text("from the image")
    os.symlink("sub/file", src / "link")
    os.chown(src / "sub" / "file", 1234, 5678)
    os.chmod(src, 0o750)
    vols = Volumes(store_root)
    v = vols.create("vol")
    vols.copy_up("vol", src)
    data = Path(v.mountpoint)
    assert (data / "sub" / "file").read_text() == "from the image"
    assert os.readlink(data / "link") == "sub/file"
    st = (data / "sub" / "file").stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert data.stat().st_mode & 0o777 == 0o750
    (data / "sub" / "file").write_text("changed")
    vols.copy_up("vol", src)           # not empty any more: nothing is copied
    assert (data / "sub" / "file").read_text() == "changed"


def test_anonymous_volumes_go_before_the_container_does(dockyard, busybox, monkeypatch) -> None:  # noqa: ANN001
    """`run --rm -v /data` through serve: the CLI's wait for the removal ended when the
    container's folder went, and its volumes were removed after that, so the next `volume ls`
    could still list one (tests/interop/test_anonymous_volumes failed so). dockerd removes
    them first; so does dockyard now: the folder is still there when they go."""
    from dockyard.runtime import removal
    from dockyard.runtime.containers import lookup
    from dockyard.store.store import Store

    cid = dockyard("create", "--network", "none", "-v", "/data", "busybox", "true").stdout.strip()
    store = Store(dockyard.root)
    cdir = lookup(store, cid)
    seen = []
    original = Volumes.remove_anonymous

    def remove_anonymous(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(cdir.path.exists())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Volumes, "remove_anonymous", remove_anonymous)
    removal.destroy(store, cdir, volumes=True)
    assert seen == [True]
    assert Volumes(dockyard.root).all() == [] and not cdir.path.exists()
