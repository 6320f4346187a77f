"""Values a layer cannot hold, and layers that are mostly not files (issue 16.14).

The tar reader's limits (dockyard/archive/tarreader.py) hold for every tar the project reads, so
each is tried at the store's door (`import`, `load`: refused with one `Error:` line, nothing
stored) and where a layer is unpacked (`apply_layer`: InvalidArchive, never OverflowError).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.archive.apply import apply_layer
from dockyard.archive.tarreader import MAX_META_BASE, MAX_META_PER_ENTRY, TarReader
from dockyard.digest import Digest
from dockyard.errors import InvalidArchive
from tests.conftest import Dockyard


def _tar(*members: tuple[tarfile.TarInfo, bytes], trailing: int = 0, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue() + bytes(trailing)


def _file(name: str = "hello", data: bytes = b"hello\n", **fields: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 1_700_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def _pax(name: str, records: dict[str, str]) -> bytes:
    """A file whose PAX header carries `records` (tarfile would refuse to write some of them)."""
    info, data = _file(name)
    info.pax_headers = records
    return _tar((info, data))


def _store_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)


def _docker_archive(layer: bytes) -> bytes:
    """A `docker save` archive of one image with `layer` (uncompressed)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [str(Digest.of_bytes(layer))]}}).encode()
    config_name = f"{Digest.of_bytes(config).hex}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["bomb:1"], "Layers": ["l/layer.tar"]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in ((config_name, config), ("l/layer.tar", layer), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


OUT_OF_RANGE = {
    "uid 2**32": (_tar(_file(uid=1 << 32)), "'hello': uid 4294967296 out of range (0 to 4294967294)"),
    "uid -1 (base-256)": (_tar(_file(uid=-1), fmt=tarfile.GNU_FORMAT), "'hello': uid -1 out of range (0 to 4294967294)"),
    "uid -1 (PAX)": (_tar(_file(uid=-1)), "invalid PAX uid b'-1'"),
    "gid 2**40": (_pax("hello", {"gid": str(1 << 40)}), "'hello': gid 1099511627776 out of range (0 to 4294967294)"),
    "PAX uid of 5000 digits": (_pax("hello", {"uid": "9" * 5000}), "invalid PAX uid b'9999999999"),
    "mtime 1e30": (_pax("hello", {"mtime": "1" + "0" * 30}), "invalid PAX mtime value '1000000000000000000000000000000'"),
    "mtime 2**64 (base-256)": (_tar(_file(mtime=1 << 64), fmt=tarfile.GNU_FORMAT),
                               "'hello': mtime (ns) 18446744073709551616000000000 out of range"),
    "device major 2**40 (base-256)": (_tar(_file(type=tarfile.CHRTYPE, devmajor=1 << 40), fmt=tarfile.GNU_FORMAT),
                                      "'hello': device major 1099511627776 out of range"),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_out_of_range_values_refused_at_import(dockyard: Dockyard, store_root: Path, tmp_path: Path,
                                               case: str) -> None:
    layer, message = OUT_OF_RANGE[case]
    before = _store_files(store_root)
    (tmp_path / "layer.tar").write_bytes(layer)
    r = dockyard("import", str(tmp_path / "layer.tar"), "bad:1", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: {message}"), r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert _store_files(store_root) == before
    with pytest.raises(InvalidArchive, match="out of range|invalid PAX"):
        apply_layer(io.BytesIO(layer), tmp_path)       # and never an OverflowError at unpack


def test_out_of_range_refused_at_load(dockyard: Dockyard, store_root: Path) -> None:
    before = _store_files(store_root)
    r = dockyard("load", input=_docker_archive(_tar(_file(uid=1 << 32))), check=False)
    assert r.returncode == 1
    assert "uid 4294967296 out of range" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert _store_files(store_root) == before


def test_largest_ids_and_times_are_kept(dockyard: Dockyard, tmp_path: Path) -> None:
    """The limits are the system's: uid 4294967294 and an mtime past 2262 are applied."""
    layer = _pax("far", {"uid": "4294967294", "gid": "4294967294", "mtime": "99999999999"})
    dest = tmp_path / "dest"
    dest.mkdir()
    apply_layer(io.BytesIO(layer), dest)
    st = (dest / "far").stat()
    assert (st.st_uid, st.st_gid) == (4294967294, 4294967294)


def _bomb_layers() -> dict[str, bytes]:
    """Tars of 6 bytes of files whose other bytes exceed the limit: trailing zeros after the
    end-of-archive marker, and PAX records padding every entry to 512 KiB."""
    over = MAX_META_BASE + (1 << 20)
    pax_entries = []
    for i in range(over // (512 << 10) + 1):
        info, data = _file(f"f{i}", b"")
        info.pax_headers = {"comment": "x" * ((512 << 10) - 100)}
        pax_entries.append((info, data))
    return {"trailing zeros": _tar(_file(), trailing=over),
            "padded PAX headers": _tar(_file(), *pax_entries)}


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_metadata_bombs_refused(dockyard: Dockyard, store_root: Path, tmp_path: Path, compression: str) -> None:
    """A 32 KiB zstd stream was stored as a 1 GiB layer that `images` showed as 6 B: whatever the
    compression, a tar whose non-file bytes pass the limit is refused, nothing stored."""
    before = _store_files(store_root)
    for kind, layer in _bomb_layers().items():
        packed = zstandard.ZstdCompressor().compress(layer) if compression == "zstd" else gzip.compress(layer)
        assert len(packed) < len(layer) // 50
        (tmp_path / "bomb").write_bytes(packed)
        r = dockyard("import", str(tmp_path / "bomb"), "bomb:1", check=False)
        assert r.returncode == 1, kind
        assert r.stderr.startswith("Error: invalid tar: more than "), (kind, r.stderr)
        assert "(the limit is 16 MiB + 8 KiB per entry)" in r.stderr
        assert _store_files(store_root) == before, kind
        with pytest.raises(InvalidArchive, match="the limit is 16 MiB"):
            apply_layer(io.BytesIO(layer), tmp_path)


def test_images_size_is_what_is_stored(dockyard: Dockyard, store_root: Path, tmp_path: Path) -> None:
    """Within the limit (GNU tar pads its end to 10 KiB records), the layer is kept byte for
    byte and `images` shows Docker's size, the files' bytes; the layer on disk is that plus a
    bounded overhead."""
    layer = _tar(_file(), trailing=10240)
    (tmp_path / "ok.tar").write_bytes(layer)
    dockyard("import", str(tmp_path / "ok.tar"), "ok:1")
    assert dockyard("images", "--format", "{{.Size}}", "ok:1").stdout == "6B\n"
    stored = sum(p.stat().st_size for p in (store_root / "layers").rglob("layer.tar"))
    assert stored == len(layer)
    assert stored - 6 <= MAX_META_BASE + MAX_META_PER_ENTRY


def test_reader_counts_content_and_entries() -> None:
    reader = TarReader(io.BytesIO(_tar(_file(), _file("b", b"12345"))))
    assert [e.name for e in reader] == ["hello", "b"]
    reader.drain()
    assert (reader.entries, reader.content) == (2, 11)


CAPS_V2 = "\x01\x00\x00\x02" + "\x00\x20\x00\x00" + "\x00" * 12   # effective, cap_net_raw permitted
UNHOLDABLE = {
    "xattr value of 70,000 bytes": (_pax("hello", {"SCHILY.xattr.user.big": "a" * 70_000}),
                                    "tar entry 'hello': extended attribute 'user.big' of 70000 bytes is more "
                                    "than a file can hold"),
    "xattr name of 300 bytes": (_pax("hello", {"SCHILY.xattr.user." + "n" * 295: "1"}),
                                "tar entry 'hello': extended attribute 'user.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"),
    "security.capability not a header": (_pax("hello", {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}),
                                         "tar entry 'hello': security.capability is not a file capability"),
    "a name of 300 bytes": (_tar(_file("d/" + "a" * 300)), "tar entry 'd/aaaaaaaaaaaaaaaaaaaaaa"),
    "a name of 200 two-byte letters": (_tar(_file("\u00e9" * 200)), "tar entry '\u00e9\u00e9\u00e9\u00e9"),
    "a symlink target of 5000 bytes": (_tar(_file("s", b"", type=tarfile.SYMTYPE, linkname="x" * 5000)),
                                       "tar entry 's': a symlink target of 4096 bytes or more"),
}


@pytest.mark.parametrize("case", list(UNHOLDABLE))
def test_attributes_no_file_can_hold_refused_at_import(dockyard: Dockyard, store_root: Path, tmp_path: Path,
                                                       case: str) -> None:
    """An extended attribute setxattr(2) refuses whatever the file system (a value over
    XATTR_SIZE_MAX, a name over XATTR_NAME_MAX, a security.capability that is not a v2/v3
    header), a path component over NAME_MAX bytes, a symlink target of PATH_MAX bytes: each was
    stored, and then every `run` failed to unpack the layer (`cannot extract 'hello': Argument
    list too long` / `Invalid argument` / `File name too long`). dockerd 20.10 refuses them at
    import (`docker import` of the same tars: `Error processing tar file(exit status 1):
    argument list too long`, `... invalid argument`, `open /aaaa...: file name too long`,
    `symlink xxxx...`): refused at the door, with one line. (A deep path of short components,
    longer than PATH_MAX, dockerd refuses too; dockyard unpacks it by directory descriptors and
    keeps it.)"""
    layer, message = UNHOLDABLE[case]
    before = _store_files(store_root)
    (tmp_path / "layer.tar").write_bytes(layer)
    r = dockyard("import", str(tmp_path / "layer.tar"), "bad:1", check=False)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith(f"Error: {message}"), r.stderr
    assert _store_files(store_root) == before


def test_a_file_capability_is_kept(dockyard: Dockyard, tmp_path: Path) -> None:
    """The door refuses only what cannot be held: a real v2 capability (what `setcap
    cap_net_raw+ep` writes) is imported and unpacked as it is."""
    import os

    layer = _pax("ping", {"SCHILY.xattr.security.capability": CAPS_V2})
    (tmp_path / "layer.tar").write_bytes(layer)
    dockyard("import", str(tmp_path / "layer.tar"), "caps:1")
    (tmp_path / "tree").mkdir()
    apply_layer(io.BytesIO(layer), tmp_path / "tree")
    assert os.getxattr(tmp_path / "tree" / "ping", "security.capability") == CAPS_V2.encode()
