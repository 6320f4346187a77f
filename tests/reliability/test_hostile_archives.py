"""Issue 16.16: a malformed archive got a Python traceback instead of one `Error:` line (bad JSON
in manifest.json, RepoTags that are not strings...). Every hostile variant below of a real
archive's manifest.json, config and index.json is refused with one line, exit 1, and the store
is left exactly as it was."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from dockyard.engine import transfer
from dockyard.errors import DockyardError
from dockyard.store.store import Store
from tests.conftest import Dockyard
from tests.store.helpers import snapshot

DIGEST = "sha256:" + "1" * 64

# manifest.json bodies (the config and layer paths are filled in: {cfg}, {layer}).
MANIFESTS = [
    b"{", b"\xff\xfe", b"[" * 100_000, b"null", b"{}", b"5", b'"text"', b"[1]", b"[null]", b"[[]]",
    b'[{"Config": 5}]', b'[{"Config": null}]', b'[{"Config": "missing.json"}]', b'[{}]',
    b'[{"Config": "{cfg}", "Layers": 5}]', b'[{"Config": "{cfg}", "Layers": [5]}]',
    b'[{"Config": "{cfg}", "Layers": [null]}]', b'[{"Config": "{cfg}", "Layers": ["missing"]}]',
    b'[{"Config": "{cfg}", "Layers": ["../../etc/passwd"]}]', b'[{"Config": "{cfg}", "Layers": ["/etc/passwd"]}]',
    b'[{"Config": "{cfg}", "Layers": []}]', b'[{"Config": "{cfg}", "Layers": ["{layer}", "{layer}"]}]',
    b'[{"Config": "{cfg}", "Layers": {"a": 1}}]', b'[{"Config": "{layer}", "Layers": ["{layer}"]}]',
    b'[{"Config": "{cfg}", "Layers": ["{cfg}"]}]',
    *[b'[{"Config": "{cfg}", "Layers": ["{layer}"], "RepoTags": ' + tags + b"}]" for tags in (
        b"5", b"[5]", b"[null]", b'"a:1"', b'{"a": 1}', b'[["a:1"]]', b'["UPPER:1"]', b'["a:b:c"]',
        b'["notag"]', b'["a@' + DIGEST.encode() + b'"]', b'["a:1@' + DIGEST.encode() + b'"]', b'[""]',
        b'["' + b"a" * 300 + b':1"]', b'["a:' + b"t" * 200 + b'"]', b'["\\u0000:1"]', b'[" a:1"]')],
]

# Image configs in place of the real one (the manifest is rewritten to name them).
CONFIGS = [
    b"", b"{", b"[]", b"null", b'{"rootfs": 5}', b'{"rootfs": {"diff_ids": 5}}',
    b'{"rootfs": {"type": "layers", "diff_ids": [5]}}', b'{"rootfs": {"type": "layers", "diff_ids": ["nope"]}}',
    b'{"rootfs": {"type": "layers", "diff_ids": ["' + DIGEST.encode() + b'"]}}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "config": 5}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "history": 5}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "history": [5]}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "created": 5}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "config": {"Env": 5}}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "config": {"Labels": [1]}}',
    b'{"rootfs": {"type": "layers", "diff_ids": []}, "config": {"ExposedPorts": [1]}}',
    b"[" * 100_000,
]

# index.json bodies of an OCI layout with no manifest.json ({mdigest}: the real OCI manifest).
INDEXES = [
    b"{", b"[]", b"null", b"{}", b'{"manifests": 5}', b'{"manifests": [5]}', b'{"manifests": [null]}',
    b'{"manifests": [{}]}', b'{"manifests": [{"digest": 5}]}', b'{"manifests": [{"digest": "sha256:zz"}]}',
    b'{"manifests": [{"digest": "' + DIGEST.encode() + b'"}]}',
    b'{"manifests": [{"digest": "{mdigest}", "annotations": {"io.containerd.image.name": "a@' + DIGEST.encode() + b'"}}]}',
    b'{"manifests": [{"digest": "{mdigest}", "mediaType": "application/vnd.oci.image.index.v1+json"}]}',
    b'{"manifests": [{"digest": "{cdigest}"}]}',
    b"{" * 100_000,
]
# Malformed only in what a load may ignore: loaded, unnamed (and no traceback either). ({mdesc}:
# the real manifest's mediaType, digest and size, which a descriptor must have.)
INDEXES_IGNORED = [
    b'{"manifests": [{{mdesc}, "annotations": 5}]}',
    b'{"manifests": [{{mdesc}, "annotations": {"io.containerd.image.name": 5}}]}',
    b'{"manifests": [{{mdesc}, "annotations": {"org.opencontainers.image.ref.name": [1]}}]}',
]


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]  # type: ignore[union-attr]


def _archive(members: list[tuple[tarfile.TarInfo, bytes | None]], replace: dict[str, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, body in members:
            if info.name in replace:
                body = replace[info.name]
                if body is None:
                    continue
            if body is not None:
                info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
        for name, body in replace.items():
            if body is not None and name not in {i.name for i, _ in members}:
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


@pytest.fixture
def saved(dockyard: Dockyard, busybox: str):  # noqa: ANN201
    data = dockyard("save", "busybox").stdout_bytes
    members = _members(data)
    files = {i.name: b for i, b in members if b is not None}
    manifest = json.loads(files["manifest.json"])[0]
    index = json.loads(files["index.json"])
    dockyard("rmi", "busybox")
    return members, manifest["Config"], manifest["Layers"][0], index["manifests"][0]


def _refused(dockyard: Dockyard, archive: bytes, what: str, through_cli: bool = False) -> None:
    """Refused with a DockyardError (which the CLI prints as one `Error:` line, exit 1), the
    store unchanged. In this process (a load costs ms); `through_cli` for a few, to see it."""
    before = snapshot(dockyard.root)
    if through_cli:
        r = dockyard("load", input=archive, check=False)
        assert r.returncode == 1, f"{what}: {r.returncode} {r.stdout} {r.stderr}"
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), f"{what}: {r.stderr[-2000:]}"
    else:
        with pytest.raises(DockyardError):
            transfer.load_images(Store(dockyard.root), io.BytesIO(archive))
    assert snapshot(dockyard.root) == before, f"{what}: the refused load changed the store"


def test_hostile_manifests_configs_and_indexes(dockyard: Dockyard, saved) -> None:  # noqa: ANN001
    members, cfg, layer, mdesc = saved
    mdigest = mdesc["digest"]
    mfields = json.dumps({k: mdesc[k] for k in ("mediaType", "digest", "size")})[1:-1]
    tried = 0
    for i, body in enumerate(MANIFESTS):
        body = body.replace(b"{cfg}", cfg.encode()).replace(b"{layer}", layer.encode())
        _refused(dockyard, _archive(members, {"manifest.json": body}), f"manifest.json {body[:80]!r}",
                 through_cli=i % 10 == 0)
        tried += 1
    for i, config in enumerate(CONFIGS):
        name = "blobs/sha256/" + hashlib.sha256(config).hexdigest()
        manifest = json.dumps([{"Config": name, "RepoTags": ["x:1"], "Layers": [layer]}]).encode()
        _refused(dockyard, _archive(members, {"manifest.json": manifest, name: config}),
                 f"config {config[:80]!r}", through_cli=i == 3)
        tried += 1
    for i, body in enumerate(INDEXES):
        body = body.replace(b"{mdigest}", mdigest.encode()).replace(b"{cdigest}", ("sha256:" + cfg.split("/")[-1]).encode())
        _refused(dockyard, _archive(members, {"manifest.json": None, "index.json": body}),
                 f"index.json {body[:80]!r}", through_cli=i == 5)
        tried += 1
    for body in INDEXES_IGNORED:
        body = body.replace(b"{mdesc}", mfields.encode())
        images = transfer.load_images(Store(dockyard.root), io.BytesIO(
            _archive(members, {"manifest.json": None, "index.json": body})))
        assert [i.tags for i in images] == [[]], body
        Store(dockyard.root).remove(str(images[0].image_id))
        tried += 1
    print(f"\nhostile archives refused with one error (or loaded, unnamed): {tried}")


@pytest.mark.parametrize("what", ["layer", "config", "manifest"])
def test_an_oci_descriptor_whose_size_lies_is_refused(dockyard: Dockyard, saved, what: str) -> None:  # noqa: ANN001
    """An OCI layout (no manifest.json) whose manifest declares a layer or config 100 bytes
    shorter than its blob, or whose index declares the manifest so: a descriptor's size is a
    promise as its digest is (image-spec descriptor.md). Such a layout was loaded without a
    word; dockerd 20.10 loads no OCI layout at all (manifest.json only)."""
    members, _, _, mdesc = saved
    files = {i.name: b for i, b in members if b is not None}
    manifest = json.loads(files["blobs/sha256/" + mdesc["digest"].split(":")[1]])
    index = json.loads(files["index.json"])
    if what == "manifest":
        index["manifests"][0]["size"] -= 100
    else:
        (manifest["layers"][0] if what == "layer" else manifest["config"])["size"] -= 100
        raw = json.dumps(manifest).encode()
        name = "blobs/sha256/" + hashlib.sha256(raw).hexdigest()
        index["manifests"][0].update(digest="sha256:" + name.rsplit("/", 1)[1], size=len(raw))
        files[name] = raw
    archive = _archive(members, {"manifest.json": None, "index.json": json.dumps(index).encode(),
                                 **{n: b for n, b in files.items() if n.startswith("blobs/") and n not in
                                    {i.name for i, _ in members}}})
    _refused(dockyard, archive, f"OCI {what} size", through_cli=what == "layer")
