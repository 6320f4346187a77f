"""A registry that lies about which layer a blob is: the config claims diff ID X for a blob whose
content is Y. Pull skips a download only for a blob the store has verified to hold that layer
(a blob pulled, or made by a push); any other blob is downloaded and checked, and a mismatch is
refused in dockerd's words, with nothing changed on disk.

Each case runs through dockerd 20.10 (a daemon of this module's own) and dockyard side by side,
against the real docker-registry, to which the crafted images are pushed over HTTP. Compared:
the pull's error line and its progress lines, of which only the ones dockerd always prints
(`Pulling fs layer`, `Already exists`, `Pull complete`, and the image's lines): dockerd's
watchers see a layer's latest status, not every one, so `Verifying Checksum` and `Download
complete` come and go.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from dockyard.digest import Digest
from tests.conftest import Dockyard, Result, at_once
from tests.dockerd import DockerDaemon, start_dockerd
from tests.registry.registryd import RegistryServer

MISMATCH = "layers from manifest don't match image configuration"
_ALWAYS = ("Pulling fs layer", "Already exists", "Pull complete")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ref() -> Iterator[DockerDaemon]:
    """dockerd with nothing in it: the layers a case makes are new to it."""
    daemon = start_dockerd()
    if isinstance(daemon, str):
        pytest.skip(daemon)
    yield daemon
    daemon.stop()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(text: str) -> tuple[str, bytes, bytes]:
    """(diff ID, tar, gzip blob) of a layer of one file holding `text`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("file.txt")
        info.size, info.mtime = len(text.encode()), 1
        tar.addfile(info, io.BytesIO(text.encode()))
    return _sha(raw.getvalue()), raw.getvalue(), gzip.compress(raw.getvalue(), mtime=0)


def _config(diff_ids: list[str], label: str) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"case": label}},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def _push(registry: RegistryServer, name: str, config: bytes, blobs: list[bytes]) -> str:
    """`name` (repo:tag) in the registry: the config, the blobs and a manifest of them, whatever
    the config says of them (the registry checks only each blob's digest). Returns the pull name."""
    repo, tag = name.split(":")
    for blob in (config, *blobs):
        r = httpx.post(f"{registry.url}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        location = httpx.URL(registry.url).join(r.headers["location"])
        r = httpx.put(location.copy_merge_params({"digest": _sha(blob)}), content=blob)
        assert r.status_code == 201, r.text
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": len(config), "digest": _sha(config)},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "size": len(b), "digest": _sha(b)} for b in blobs]}
    r = httpx.put(f"{registry.url}/v2/{repo}/manifests/{tag}", content=json.dumps(manifest).encode(),
                  headers={"Content-Type": manifest["mediaType"]})
    assert r.status_code == 201, r.text
    return f"{registry.host}/{name}"


def _archive(config: bytes, tars: list[bytes], tag: str) -> bytes:
    """A docker-archive (`docker save`'s format) of one image."""
    out = io.BytesIO()
    name = f"{_sha(config)[7:]}.json"
    files = [(name, config), *((f"{i}/layer.tar", t) for i, t in enumerate(tars))]
    files.append(("manifest.json", json.dumps([{"Config": name, "RepoTags": [tag],
                                                 "Layers": [f"{i}/layer.tar" for i in range(len(tars))]}]).encode()))
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _seen(result: Result) -> tuple[list[str], dict[str, list[str]], str]:
    """A pull's lines dockerd always prints: the image's, each layer's statuses among _ALWAYS
    (layers run at once: only each one's own order is fixed); and its error line without
    dockyard's 'Error: '."""
    image: list[str] = []
    layers: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        layer, _, status = line.partition(": ")
        if len(layer) == 12 and layer.isalnum() and status:
            if status in _ALWAYS:
                layers.setdefault(layer, []).append(status)
        else:
            image.append(line)
    error = result.stderr.strip()
    return image, layers, error[len("Error: "):] if error.startswith("Error: ") else error


def _pull_both(ref: DockerDaemon, dy: Dockyard, name: str,
               lying: bytes | None = None) -> tuple[list[str], dict[str, list[str]], str]:
    """`pull name` through dockerd and dockyard at once; what both said (asserted equal: of a
    pull refused for the `lying` blob, that layer's lines alone, as the others are cut short
    at any point)."""
    theirs, ours = at_once(lambda: ref("pull", name, check=False), lambda: dy("pull", name, check=False))
    (image, layers, error), (their_image, their_layers, their_error) = _seen(ours), _seen(theirs)
    assert (image, error) == (their_image, their_error), (ours, theirs)
    if lying is None:
        assert layers == their_layers, (ours, theirs)
    else:
        short = _sha(lying)[7:19]
        assert layers[short] == their_layers[short] == ["Pulling fs layer", "Pull complete"], (ours, theirs)
    assert (ours.returncode == 0) == (theirs.returncode == 0) == (error == ""), (ours, theirs)
    return image, layers, error


def _files(root: Path) -> list[tuple[Path, str]]:
    """What the store keeps of images (not its temp and lock files), with each file's content."""
    return sorted((p.relative_to(root), _sha(p.read_bytes()) if p.is_file() and not p.is_symlink() else "")
                  for p in root.rglob("*")
                  if p.relative_to(root).parts[0] in ("layers", "l", "blobs", "images", "repositories.json"))


def test_a_blob_that_is_not_the_layer_its_config_claims_is_refused(
        registry: RegistryServer, ref: DockerDaemon, dockyard: Dockyard) -> None:
    """X is here, pulled (its blob verified); an image whose config says X of another blob (Y's):
    the blob is downloaded, not taken as X, and the image refused; nothing is kept."""
    x, _, x_blob = _layer("x of the liar case\n")
    y, _, y_blob = _layer("y of the liar case\n")
    honest = _push(registry, "liar/honest:1", _config([x], "honest"), [x_blob])
    liar = _push(registry, "liar/liar:1", _config([x], "liar"), [y_blob])
    _, layers, error = _pull_both(ref, dockyard, honest)
    assert layers == {_sha(x_blob)[7:19]: ["Pulling fs layer", "Pull complete"]} and error == ""
    before = _files(dockyard.root)
    image, layers, error = _pull_both(ref, dockyard, liar, lying=y_blob)
    assert error == MISMATCH and image == ["1: Pulling from liar/liar"] and list(layers) == [_sha(y_blob)[7:19]]
    assert _files(dockyard.root) == before  # no image, no layer Y, no blob, no repo digest
    for listing in (dockyard("images", "--digests").stdout, ref("images", "--digests").stdout):
        assert "liar/liar" not in listing and "liar/honest" in listing
    assert not dockyard.store.layers.exists(Digest.parse(y))


def test_a_diff_id_twice_in_one_image_is_checked_for_each_blob(
        registry: RegistryServer, ref: DockerDaemon, dockyard: Dockyard) -> None:
    """A config that lists X twice, of two blobs: both are downloaded and checked (the second
    is Y: refused). One blob that the config says is X, then Y: refused. Of one blob twice:
    one download, the image pulled."""
    x, _, x_blob = _layer("x of the twice case\n")
    y, _, y_blob = _layer("y of the twice case\n")
    two = _push(registry, "twice/two:1", _config([x, x], "two blobs"), [x_blob, y_blob])
    one = _push(registry, "twice/one:1", _config([x, x], "one blob"), [x_blob, x_blob])
    _, _, error = _pull_both(ref, dockyard, two, lying=y_blob)
    assert error == MISMATCH
    assert dockyard("images", "-q").stdout == ""
    # one blob that the config says is X, then Y (neither here): refused
    y_twice = _push(registry, "twice/xy:1", _config([x, y], "one blob, two diff IDs"), [x_blob, x_blob])
    theirs, ours = at_once(lambda: ref("pull", y_twice, check=False), lambda: dockyard("pull", y_twice, check=False))
    assert theirs.returncode != 0 and theirs.stderr.strip() == MISMATCH, theirs
    assert ours.returncode != 0 and ours.stderr == f"Error: {MISMATCH}\n", ours
    assert "twice/xy" not in dockyard("images").stdout and not dockyard.store.layers.exists(Digest.parse(y))
    _, layers, error = _pull_both(ref, dockyard, one)
    assert error == "" and layers == {_sha(x_blob)[7:19]: ["Pulling fs layer", "Pull complete"]}


def test_a_loaded_layer_is_downloaded_then_known_by_its_blob(
        registry: RegistryServer, ref: DockerDaemon, dockyard: Dockyard) -> None:
    """A layer that came by `load` has no blob verified: a pull of an image with it downloads it
    ('Pull complete', not 'Already exists'); the next pull of that blob skips it. A pull of the
    loaded image itself (its config here) prints no line of its layers."""
    a, a_tar, a_blob = _layer("a of the loaded case\n")
    loaded_config = _config([a], "loaded")
    archive = _archive(loaded_config, [a_tar], "loaded:0")
    at_once(lambda: ref("load", input=archive), lambda: dockyard("load", input=archive))
    short = _sha(a_blob)[7:19]
    first = _push(registry, "loaded/first:1", _config([a], "first"), [a_blob])
    _, layers, _ = _pull_both(ref, dockyard, first)
    assert layers == {short: ["Pulling fs layer", "Pull complete"]}
    second = _push(registry, "loaded/second:1", _config([a], "second"), [a_blob])
    _, layers, _ = _pull_both(ref, dockyard, second)
    assert layers == {short: ["Already exists"]}
    same = _push(registry, "loaded/same:1", loaded_config, [a_blob])
    image, layers, _ = _pull_both(ref, dockyard, same)
    assert layers == {} and [line.split(" sha256:")[0] for line in image] == [
        "1: Pulling from loaded/same", "Digest:", f"Status: Downloaded newer image for {same}", same], image


def test_a_config_of_more_layers_than_its_manifest_is_refused(
        registry: RegistryServer, ref: DockerDaemon, dockyard: Dockyard) -> None:
    x, _, x_blob = _layer("x of the count case\n")
    y, _, _ = _layer("y of the count case\n")
    name = _push(registry, "count/more:1", _config([x, y], "more"), [x_blob])
    theirs, ours = at_once(lambda: ref("pull", name, check=False), lambda: dockyard("pull", name, check=False))
    assert theirs.returncode != 0 and theirs.stderr.strip() == MISMATCH, theirs
    assert ours.returncode != 0 and ours.stderr == f"Error: {MISMATCH}\n", ours
    assert dockyard("images", "-q").stdout == ""
