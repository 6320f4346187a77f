"""Layer tars whose entries fight each other (a directory then a file of one name, `a` then
`./a`, a hard link to a later entry, to itself, to a directory), through import, load and pull.

dockerd 20.10 refuses them when the layer is registered (tar-split: "duplicates of file paths
not supported"; its unpack: `link /b /a: no such file or directory`). dockyard used to store
them: the image was listed, and every `run` failed on the hard link ("target does not exist"),
or the image held whichever entry came last. Now each is refused at the door with one `Error:`
line, and the store is left as it was. The same tars go through the session's dockerd (one
`docker import` each) and both must agree on every case.

Three tars dockerd refuses and dockyard keeps, on purpose (not in the comparison): `l -> /etc`
then `l/passwd` with no /etc in the layer (dockerd: `open /l/passwd: no such file or directory`;
dockyard resolves the link inside the root, as the kernel does in the container, and makes
/etc), and a file and its whiteout in one layer, either order (dockerd: `failed to mknod("/a",
S_IFCHR, 0): file exists`; dockyard's overlay unpack replaces the file by the whiteout).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.engine.images import import_image
from dockyard.engine.transfer import load_images
from dockyard.errors import DockyardError
from dockyard.store.store import Store
from tests.conftest import Dockyard
from tests.store.helpers import make_tar, snapshot

R, D, L, S = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE

# name: (entries as (name, type, linkname or body), refused)
CASES = {
    "dir-then-file": ([("d", D, ""), ("d/x", R, b"1"), ("d", R, b"file")], True),
    "file-then-dir": ([("d", R, b"file"), ("d", D, ""), ("d/x", R, b"1")], True),
    "file-twice": ([("a", R, b"1"), ("a", R, b"2")], True),
    "dot-slash-twice": ([("a", R, b"1"), ("./a", R, b"2")], True),
    "dir-twice": ([("d/", D, ""), ("d", D, "")], True),
    "link-to-missing": ([("a", L, "nothere")], True),
    "link-to-later": ([("a", L, "b"), ("b", R, b"x")], True),
    "link-to-itself": ([("h", L, "h")], True),
    "link-to-dir": ([("d", D, ""), ("h", L, "d")], True),
    "link-below-missing-dir": ([("h", L, "nodir/f")], True),
    "link-chain": ([("f", R, b"1"), ("h1", L, "f"), ("h2", L, "h1")], False),
    "link-dot-slash": ([("f", R, b"1"), ("h", L, "./f")], False),
    "link-absolute": ([("f", R, b"1"), ("h", L, "/f")], False),
    "link-through-symlink": ([("real", D, ""), ("real/f", R, b"1"), ("d", S, "real"), ("h", L, "d/f")], False),
    "link-to-symlink": ([("s", S, "/etc/passwd"), ("h", L, "s")], False),
    "link-into-new-dir": ([("f", R, b"1"), ("x/y/h", L, "f")], False),
    "whiteout-then-same": ([(".wh.a", R, b""), ("a", R, b"1")], False),
}


def layer_tar(entries: list[tuple[str, bytes, object]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, arg in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == D else 0o644
            if kind == R:
                info.size = len(arg)  # type: ignore[arg-type]
                tar.addfile(info, io.BytesIO(arg))  # type: ignore[arg-type]
            else:
                info.linkname = arg  # type: ignore[assignment]
                tar.addfile(info)
    return out.getvalue()


@pytest.fixture(scope="module")
def tars(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fighting")
    made = {}
    for name, (entries, _) in CASES.items():
        made[name] = folder / f"{name}.tar"
        made[name].write_bytes(layer_tar(entries))
    return made


def _imported(store: Store, tar: Path) -> str | None:
    """None when refused (a DockyardError: the CLI's one `Error:` line), else the image ID."""
    try:
        return str(import_image(store, str(tar), repository="fight:1"))
    except DockyardError:
        return None


def test_refused_at_import_as_dockerd_refuses_them(dockerd, dockyard: Dockyard, tars: dict[str, Path]) -> None:
    store = Store(dockyard.root)
    for name, (_, refused) in CASES.items():
        before = snapshot(dockyard.root)
        ours = _imported(store, tars[name])
        theirs = dockerd("import", str(tars[name]), "fight:1", check=False)
        assert (ours is None) == refused, f"{name}: dockyard {'accepted' if ours else 'refused'} it"
        assert (theirs.returncode != 0) == refused, f"{name}: dockerd: {theirs.stderr}"
        if refused:
            assert snapshot(dockyard.root) == before, f"{name}: the refused import changed the store"
    dockerd("rmi", "fight:1", check=False)


def test_one_error_line_from_the_cli(dockyard: Dockyard, tars: dict[str, Path]) -> None:
    r = dockyard("import", str(tars["dir-then-file"]), "fight:1", check=False)
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "Error: tar entry 'd': a second entry of the same path (duplicates of file paths not supported)"]
    r = dockyard("import", str(tars["link-to-later"]), "fight:1", check=False)
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "Error: hard link 'a' -> 'b': target is not an earlier entry of the layer"]
    assert dockyard("images", "-q").stdout == ""


def test_refused_at_load(dockyard: Dockyard, busybox: str, tars: dict[str, Path]) -> None:
    """A saved image whose second layer is replaced by a fighting tar (the config's diff_ids
    rewritten to match: only the entries are wrong) is refused by `load`."""
    import hashlib
    import json

    saved = io.BytesIO(dockyard("save", "busybox").stdout_bytes)
    with tarfile.open(fileobj=saved) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(files["manifest.json"])
    bad = tars["link-to-later"].read_bytes()
    bad_name = "blobs/sha256/" + hashlib.sha256(bad).hexdigest()
    config = json.loads(files[manifest[0]["Config"]])
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(bad).hexdigest())
    raw = json.dumps(config).encode()
    config_name = "blobs/sha256/" + hashlib.sha256(raw).hexdigest()
    manifest = [{"Config": config_name, "RepoTags": ["fight:1"], "Layers": [*manifest[0]["Layers"], bad_name]}]
    members = {name: body for name, body in files.items() if not name.endswith(("index.json", "manifest.json"))}
    members.update({bad_name: bad, config_name: raw, "manifest.json": json.dumps(manifest).encode()})
    archive = make_tar(list(members.items()))
    before = snapshot(dockyard.root)
    with pytest.raises(DockyardError, match="hard link 'a' -> 'b'"):
        load_images(Store(dockyard.root), io.BytesIO(archive))
    assert snapshot(dockyard.root) == before


@pytest.mark.parametrize("name", ["file-twice", "link-to-later"])
def test_refused_by_pulls_unpack(tmp_path: Path, name: str) -> None:
    """A pull checks each entry as it unpacks the layer (scan_unpack): the same refusals, before
    the entry is applied."""
    from dockyard.archive.scan import scan_unpack

    with pytest.raises(DockyardError, match="second entry|hard link"):
        scan_unpack(io.BytesIO(layer_tar(CASES[name][0])), tmp_path)
