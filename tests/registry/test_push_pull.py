"""push / pull / login against the real CNCF registry (Debian's docker-registry) on 127.0.0.1.

Docker behaviours matched (dockerd 20.10 as the reference): the messages of `docker push` and
`docker pull` (`The push refers to repository [...]`, `<tag>: digest: <d> size: <n>`,
`<tag>: Pulling from <path>`, `Digest:`, `Status: Downloaded newer image for ...`,
`Status: Image is up to date for ...`, the fully qualified name printed last), RepoDigests after a
push or pull, `Layer already exists` on a second push, and linux/amd64 chosen from an index.
"""

from __future__ import annotations

import hashlib
import os
import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import Dockyard

DIGEST = re.compile(r"(sha256:[0-9a-f]{64})")


@pytest.fixture
def other(tmp_path: Path) -> Dockyard:
    """A second, empty store: the machine that pulls."""
    d = Dockyard(tmp_path / "other-store")
    d.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return d


@pytest.fixture
def dy(dockyard: Dockyard, tmp_path: Path) -> Dockyard:
    dockyard.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return dockyard


def _image_id(d: Dockyard, name: str) -> str:
    return d("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def _tree(root: Path) -> list[tuple]:
    """Every entry of a tree below `root`: its path, type and mode, owner, times, xattrs, and
    its content (a file's sha256, a link's target, a device's numbers)."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                content = os.readlink(path)
            elif os.path.isfile(path):
                content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                content = st.st_rdev
            xattrs = sorted((k, os.getxattr(path, k, follow_symlinks=False))
                            for k in os.listxattr(path, follow_symlinks=False))
            out.append((os.path.relpath(path, root), st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns,
                        xattrs, content))
    return sorted(out)


def _pushed_digest(out: str, tag: str) -> str:
    m = re.search(rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+$", out, re.M)
    assert m, out
    return m.group(1)


def test_push_then_pull_into_an_empty_store(dy: Dockyard, other: Dockyard, busybox: str, registry) -> None:
    name = f"{registry.host}/dy/bb:v1"
    dy("tag", "busybox", name)
    out = dy("push", name).stdout
    assert out.startswith(f"The push refers to repository [{registry.host}/dy/bb]\n"), out
    assert re.search(r"^[0-9a-f]{12}: Pushed$", out, re.M), out
    digest = _pushed_digest(out, "v1")
    assert json.loads(dy("image", "inspect", "-f", "{{json .RepoDigests}}", name).stdout) == \
        [f"{registry.host}/dy/bb@{digest}"]

    out = other("pull", name).stdout
    lines = out.splitlines()
    assert lines[0] == "v1: Pulling from dy/bb"
    assert f"Digest: {digest}" in lines
    assert lines[-2:] == [f"Status: Downloaded newer image for {name}", name]
    assert _image_id(other, name) == busybox
    assert json.loads(other("image", "inspect", "-f", "{{json .RepoDigests}}", name).stdout) == \
        [f"{registry.host}/dy/bb@{digest}"]
    assert other("run", "--rm", name, "echo", "pulled").stdout == "pulled\n"
    # A second pull changes nothing.
    assert f"Status: Image is up to date for {name}" in other("pull", name).stdout
    # By digest: Docker tags only the digest reference.
    third = Dockyard(other.root.parent / "third")
    third("pull", f"{registry.host}/dy/bb@{digest}")
    assert _image_id(third, f"{registry.host}/dy/bb@{digest}") == busybox


def test_second_push_uploads_nothing(dy: Dockyard, busybox: str, registry) -> None:
    name = f"{registry.host}/dy/again:v1"
    dy("tag", "busybox", name)
    first = _pushed_digest(dy("push", name).stdout, "v1")
    before = registry.requests()
    out = dy("push", name).stdout
    assert re.search(r"^[0-9a-f]{12}: Layer already exists$", out, re.M), out
    assert _pushed_digest(out, "v1") == first
    new = registry.requests()[len(before):]
    assert not [r for r in new if r[0] in ("POST", "PATCH", "PUT") and "/blobs/" in r[1]], new


def test_second_push_costs_one_head_per_blob(dy: Dockyard, busybox: str, registry) -> None:
    """The compressed digest a first push made is remembered with the layer: the second push
    asks the registry with one HEAD per blob (layer and config), then puts the manifest; nothing
    is compressed or sent again (as Docker's push with its v2 metadata)."""
    name = f"{registry.host}/dy/onehead:v1"
    dy("tag", "busybox", name)
    dy("push", name)
    before = registry.requests()
    dy("push", name)
    new = [(method, path) for method, path, _ in registry.requests()[len(before):]]
    blobs = [(method, path) for method, path in new if "/blobs/" in path]
    layer, config = json.loads(dy("image", "inspect", "-f", "{{json .RootFS.Layers}}", name).stdout), busybox
    assert len(layer) == 1
    assert sorted(m for m, _ in blobs) == ["HEAD", "HEAD"], new
    assert any(path.endswith(f"/blobs/{config}") for _, path in blobs), new
    assert [m for m, path in new if "/manifests/" in path] == ["PUT"], new


def test_push_all_tags_and_pull_all_tags(dy: Dockyard, other: Dockyard, busybox: str, registry) -> None:
    repo = f"{registry.host}/dy/multi"
    dy("tag", "busybox", f"{repo}:a")
    dy("tag", "busybox", f"{repo}:b")
    out = dy("push", "-a", repo).stdout
    assert _pushed_digest(out, "a") == _pushed_digest(out, "b")
    other("pull", "-a", repo)
    assert _image_id(other, f"{repo}:a") == _image_id(other, f"{repo}:b") == busybox


def test_cross_repository_mount(dy: Dockyard, busybox: str, registry) -> None:
    """A blob the registry holds in another repository is mounted, not uploaded (as Docker does
    for repositories it knows the blob came from)."""
    dy("tag", "busybox", f"{registry.host}/dy/src:v1")
    dy("push", f"{registry.host}/dy/src:v1")
    dy("tag", "busybox", f"{registry.host}/dy/dst:v1")
    out = dy("push", f"{registry.host}/dy/dst:v1").stdout
    assert re.search(r"^[0-9a-f]{12}: Mounted from dy/src$", out, re.M), out


def test_pull_errors_are_dockers(dy: Dockyard, registry) -> None:
    r = dy("pull", f"{registry.host}/dy/none:v1", check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == (f"Error: manifest for {registry.host}/dy/none:v1 not found: "
                                "manifest unknown: manifest unknown")
    r = dy("push", f"{registry.host}/dy/none:v1", check=False)
    assert r.stderr.strip() == f"Error: An image does not exist locally with the tag: {registry.host}/dy/none"


def test_nothing_is_stored_when_a_blob_lies(dy: Dockyard, other: Dockyard, busybox: str, registry) -> None:
    """A registry that serves bytes other than the digest it names: the pull fails, the store
    holds nothing new (no image, no layer, no blob)."""
    name = f"{registry.host}/dy/liar:v1"
    dy("tag", "busybox", name)
    dy("push", name)
    data = [p for p in (registry.root).rglob("data") if p.is_file() and p.stat().st_size > 100_000]
    assert len(data) == 1  # the layer blob
    blob = bytearray(data[0].read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data[0].write_bytes(bytes(blob))
    before = sorted(p.relative_to(other.root) for p in other.root.rglob("*")) if other.root.exists() else []
    r = other("pull", name, check=False)
    assert r.returncode != 0 and "digest" in r.stderr.lower(), r.stderr
    after = sorted(p.relative_to(other.root) for p in other.root.rglob("*") if "tmp" not in p.parts and "locks" not in p.parts)
    assert [p for p in after if p.parts[0] in ("layers", "blobs", "images") and len(p.parts) > 1
            and p not in before] == []


def _put_index(registry, repo: str, entries: list[tuple[str, str, int, str]]) -> str:
    """An OCI index over manifests already in `repo`, put under tag `multi`."""
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": mt, "digest": d, "size": size,
                          "platform": {"os": "linux", "architecture": arch}}
                         for d, mt, size, arch in entries]}
    body = json.dumps(doc).encode()
    r = httpx.put(f"http://{registry.host}/v2/{repo}/manifests/multi", content=body,
                  headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert r.status_code == 201, r.text
    return r.headers["docker-content-digest"]


def test_index_with_several_platforms(dy: Dockyard, other: Dockyard, busybox: str, busybox_tar: Path,
                                      registry) -> None:
    repo = "dy/plat"
    arm = dy("import", "--platform", "linux/arm64", "-c", "LABEL arch=arm64", str(busybox_tar),
             f"{registry.host}/{repo}:arm64").stdout.strip()
    dy("tag", "busybox", f"{registry.host}/{repo}:amd64")
    entries = []
    for tag, arch in (("amd64", "amd64"), ("arm64", "arm64")):
        digest = _pushed_digest(dy("push", f"{registry.host}/{repo}:{tag}").stdout, tag)
        m = httpx.get(f"http://{registry.host}/v2/{repo}/manifests/{digest}",
                      headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        entries.append((digest, m.headers["content-type"], len(m.content), arch))
    index = _put_index(registry, repo, entries)
    name = f"{registry.host}/{repo}:multi"
    out = other("pull", name).stdout
    assert f"Digest: {index}" in out  # Docker shows the digest of what the tag names: the index
    assert _image_id(other, name) == busybox
    third = Dockyard(other.root.parent / "third")
    third("pull", "--platform", "linux/arm64", name)
    assert _image_id(third, name) == arm
    r = third("pull", "--platform", "linux/s390x", name, check=False)
    assert r.returncode != 0
    assert "no matching manifest for linux/s390x in the manifest list entries" in r.stderr


def test_skopeo_pulls_what_dockyard_pushed(dy: Dockyard, busybox: str, registry, tmp_path: Path) -> None:
    name = f"{registry.host}/dy/toskopeo:v1"
    dy("tag", "busybox", name)
    digest = _pushed_digest(dy("push", name).stdout, "v1")
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{name}"],
                         check=True, capture_output=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    out = tmp_path / "dir"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{name}", f"dir:{out}"],
                   check=True)  # skopeo verifies every blob against its digest on the way
    assert "sha256:" + hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == digest
    assert (out / busybox[7:]).is_file()  # the config, named by its digest: the same image ID


def test_go_decompresses_a_pushed_layer_of_stored_and_deflated_blocks(
        dy: Dockyard, busybox: str, registry, tmp_path: Path) -> None:
    """A layer of random bytes between text is pushed as stored blocks between deflated runs
    (archive/compression._StoringGzip): Go's gzip reader (skopeo's --dest-decompress) reads
    it back to the tar of the layer's diff ID."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "random.bin").write_bytes(os.urandom(3 << 20))
    (ctx / "text.txt").write_bytes(b"some text of a layer\n" * 200_000)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY . /data/\n")
    name = f"{registry.host}/dy/mixed:v1"
    dy("build", "-q", "-t", name, str(ctx))
    dy("push", name)
    out = tmp_path / "dir"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-decompress",
                    f"docker://{name}", f"dir:{out}"], check=True)
    diff_id = json.loads(dy("image", "inspect", "-f", "{{json .RootFS.Layers}}", name).stdout)[-1]
    manifest = json.loads((out / "manifest.json").read_bytes())
    layer = out / manifest["layers"][-1]["digest"].split(":", 1)[1]
    assert "sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest() == diff_id
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{name}"],
                         check=True, capture_output=True).stdout
    pushed = json.loads(raw)["layers"][-1]["size"]
    assert (3 << 20) < pushed < (3 << 20) + 100_000  # the random stored, the text deflated


def test_dockyard_pulls_what_skopeo_pushed_and_pushes_it_back_byte_identical(
        dy: Dockyard, other: Dockyard, busybox: str, registry, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    dy("save", "-o", str(archive), "busybox")
    name = f"{registry.host}/sk/bb:v1"
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", "--format", "oci",
                    f"docker-archive:{archive}", f"docker://{name}"], check=True)
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{name}"],
                         check=True, capture_output=True).stdout
    original = "sha256:" + hashlib.sha256(raw).hexdigest()
    out = other("pull", name).stdout
    assert f"Digest: {original}" in out
    # skopeo wrote an OCI config (a new image ID); dockyard's image is that config.
    assert _image_id(other, name) == json.loads(raw)["config"]["digest"]
    # Pushed elsewhere, the kept blobs and manifest give the very same digest.
    back = f"{registry.host}/sk/back:v1"
    other("tag", name, back)
    assert _pushed_digest(other("push", back).stdout, "v1") == original


def test_push_zstd_layers(dy: Dockyard, other: Dockyard, busybox: str, registry) -> None:
    """`--compression zstd` (dockyard's flag; Docker has none): an OCI manifest with zstd layers,
    which a pull turns back into the same image."""
    name = f"{registry.host}/dy/zstd:v1"
    dy("tag", "busybox", name)
    dy("push", "--compression", "zstd", name)
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{name}"],
                         check=True, capture_output=True).stdout
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [l["mediaType"] for l in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+zstd"]
    other("pull", name)
    assert _image_id(other, name) == busybox
    # Pushed again with the default, the pulled zstd blob and manifest go out unchanged.
    other("tag", name, f"{registry.host}/dy/zstd2:v1")
    again = other("push", f"{registry.host}/dy/zstd2:v1").stdout
    assert _pushed_digest(again, "v1") == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_many_layers_move_three_at_a_time(dy: Dockyard, other: Dockyard, busybox: str, registry,
                                          tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    lines = ["FROM busybox"]
    for i in range(5):
        (ctx / f"f{i}").write_bytes(os.urandom(100_000 * (i + 1)))  # blobs of five sizes
        lines.append(f"COPY f{i} /f{i}")
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    name = f"{registry.host}/dy/layers:v1"
    image_id = dy("build", "-q", "-t", name, str(ctx)).stdout.strip()
    out = dy("push", name).stdout
    assert len(re.findall(r"^[0-9a-f]{12}: Pushed$", out, re.M)) == 6, out
    assert len(re.findall(r"^[0-9a-f]{12}: Waiting$", out, re.M)) == 3, out  # six layers, three at once
    out = other("pull", name).stdout
    assert len(re.findall(r"^[0-9a-f]{12}: Pull complete$", out, re.M)) == 6, out
    # a download starts the largest blobs first: the three smallest wait (not the last three: the
    # largest COPY layers)
    manifest = httpx.get(f"http://{registry.host}/v2/dy/layers/manifests/v1",
                         headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}).json()
    by_size = sorted(manifest["layers"], key=lambda layer: layer["size"])
    assert set(re.findall(r"^([0-9a-f]{12}): Waiting$", out, re.M)) == \
        {layer["digest"][7:19] for layer in by_size[:3]}, out
    assert _image_id(other, name) == image_id
    from dockyard.image.image import validate_image
    from dockyard.store.store import Store

    store = Store(other.root)
    validate_image(store.image(store.resolve(name)))
    assert other("run", "--rm", name, "sh", "-c", "cat /f4 | wc -c").stdout.strip() == "500000"


def test_a_pulled_layer_keeps_its_blob_and_the_tree_unpacked_on_the_way(
        dy: Dockyard, other: Dockyard, busybox: str, registry) -> None:
    """The pull decompresses every layer once, to check its diff ID, and unpacks it on the way:
    the layer's content is the registry's blob, byte for byte (a push of the pulled image sends
    it again: the same manifest digest), and its tree is there before the first `run`, made as
    `unpacked` makes it from the blob (as dockerd unpacks a pull); no tar is written."""
    import hashlib
    import os

    from dockyard.archive.compression import open_decompressed

    name = f"{registry.host}/dy/kept:v1"
    dy("tag", "busybox", name)
    digest = _pushed_digest(dy("push", name).stdout, "v1")
    other("pull", name)
    image = other.store.image(other.store.resolve(name))
    for layer in image.layers:
        [form] = layer.compressed  # the registry's blob, byte for byte
        assert layer.source == form
        blob = other.store.blobs.path(form.digest)
        # durable, and out of the page cache: the pull reads it never (atomic.Writeback's drop)
        resident = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(blob)],
                                  check=True, capture_output=True, text=True).stdout
        assert int(resident) == 0
        assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == str(form.digest)
        with open(blob, "rb") as f:
            tar = open_decompressed(f).read()
        assert "sha256:" + hashlib.sha256(tar).hexdigest() == str(layer.diff_id)
        assert not (other.store.layers.dir(layer.diff_id) / "layer.tar").exists()
        assert other.store.layers.is_unpacked(layer.diff_id)
    # the tree the pull made is the one the store makes from the blob
    [layer] = image.layers
    pulled = other.store.layers.dir(layer.diff_id) / "diff"
    made = other.store.layers.dir(layer.diff_id) / "made"
    os.rename(pulled, made)
    try:
        other.store.layers.unpacked(layer.diff_id)
        assert _tree(pulled) == _tree(made)
    finally:
        subprocess.run(["rm", "-rf", str(made)], check=True)
    again = f"{registry.host}/dy/kept-again:v1"
    other("tag", name, again)
    assert _pushed_digest(other("push", again).stdout, "v1") == digest


def test_run_pulls_an_image_not_here(dy: Dockyard, busybox: str, registry, tmp_path: Path) -> None:  # noqa: ANN001
    """`run`/`create` of an image the store lacks pull it first, as the docker CLI does (`Unable to
    find image 'NAME' locally` and the pull's progress on stderr, then the create); --pull never
    does not; --pull always pulls an image that is here (`Status: Image is up to date`)."""
    name = f"{registry.host}/runpull:1"
    dy("tag", "busybox", name)
    dy("push", "-q", name)
    dy("rmi", name)
    never = dy("run", "--rm", "--pull", "never", name, "true", check=False)
    assert never.returncode == 125 and never.stderr == f"Error: No such image: {name}\n"
    ran = dy("run", "--rm", name, "echo", "ran")
    assert ran.stdout == "ran\n"
    lines = ran.stderr.splitlines()
    assert lines[0] == f"Unable to find image '{name}' locally"
    assert lines[1] == "1: Pulling from runpull" and lines[-1] == f"Status: Downloaded newer image for {name}"
    # the image is here under another name (busybox): no line of its layers, as dockerd
    # (tests/registry/test_layer_claims.py compares it), nor for a tag that is that image already
    assert lines[2].startswith("Digest: sha256:"), lines
    again = dy("create", "--pull", "always", name, "true")
    assert again.stderr.splitlines()[1:] == [f"Digest: {again.stderr.split('Digest: ')[1].split()[0]}",
                                             f"Status: Image is up to date for {name}"]
