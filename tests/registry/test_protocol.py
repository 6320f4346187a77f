"""Registry protocol code without I/O: bytes in, values/errors out."""

from __future__ import annotations

import json

import pytest

from dockyard.digest import Digest
from dockyard.errors import Forbidden, InvalidParameter, NotFound, Unauthorized
from dockyard.image import media
from dockyard.image.manifest import (
    MAX_MANIFEST, ImageIndex, ImageManifest, Platform, choose_platform, parse_manifest,
)
from dockyard.transport.registry.challenge import parse_challenges, scope_for
from dockyard.transport.registry.errors import error_for

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D3 = "sha256:" + "c" * 64


def test_bearer_challenge_like_docker_hub() -> None:
    ch = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                          'scope="repository:library/busybox:pull"')
    assert len(ch) == 1
    assert ch[0].scheme == "bearer"
    assert ch[0].realm == "https://auth.docker.io/token"
    assert ch[0].service == "registry.docker.io"
    assert ch[0].scope == "repository:library/busybox:pull"


def test_basic_challenge_and_escapes() -> None:
    ch = parse_challenges('Basic realm="Registry \\"Realm\\""')
    assert ch[0].scheme == "basic" and ch[0].realm == 'Registry "Realm"'


def test_two_challenges_in_one_header() -> None:
    ch = parse_challenges('Basic realm="a", Bearer realm="https://t/token",service="s"')
    assert [c.scheme for c in ch] == ["basic", "bearer"]
    assert ch[1].realm == "https://t/token" and ch[1].service == "s"


def test_scope() -> None:
    assert scope_for("library/x", ("pull", "push")) == "repository:library/x:pull,push"


def test_error_unauthorized_like_docker() -> None:
    body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}).encode()
    err = error_for(401, body)
    assert isinstance(err, Unauthorized)
    assert str(err) == "unauthorized: authentication required"


def test_error_pull_access_denied_like_docker() -> None:
    body = json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}]}).encode()
    err = error_for(404, body, familiar="nosuch", pulling=True)
    assert isinstance(err, Forbidden)
    assert str(err).startswith("pull access denied for nosuch, repository does not exist or may require 'docker login'")


def test_error_garbage_body() -> None:
    assert isinstance(error_for(404, b"<html>"), NotFound)
    assert str(error_for(401, b"")) == "unauthorized: authentication required"


def _manifest(mt: str = media.DOCKER_MANIFEST) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": mt,
                       "config": {"mediaType": media.DOCKER_CONFIG, "digest": D1, "size": 10},
                       "layers": [{"mediaType": media.DOCKER_LAYER_GZIP, "digest": D2, "size": 20}]}).encode()


def test_parse_docker_manifest() -> None:
    m = parse_manifest(_manifest())
    assert isinstance(m, ImageManifest)
    assert m.config.digest == Digest.parse(D1)
    assert [l.size for l in m.layers] == [20]


def test_parse_oci_manifest_without_media_type_field_uses_header() -> None:
    doc = json.loads(_manifest())
    del doc["mediaType"]
    m = parse_manifest(json.dumps(doc).encode(), media.OCI_MANIFEST + "; charset=utf-8")
    assert isinstance(m, ImageManifest) and m.media_type == media.OCI_MANIFEST


def _index() -> ImageIndex:
    doc = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": [
        {"mediaType": media.OCI_MANIFEST, "digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": media.OCI_MANIFEST, "digest": D2, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": media.OCI_MANIFEST, "digest": D3, "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}},
    ]}
    idx = parse_manifest(json.dumps(doc).encode())
    assert isinstance(idx, ImageIndex)
    return idx


def test_index_picks_linux_amd64_by_default() -> None:
    assert str(choose_platform(_index()).digest) == D2


def test_index_platform_flag() -> None:
    # docker pull --platform linux/arm64 matches linux/arm64/v8 (variant only compared when given)
    assert str(choose_platform(_index(), Platform.parse("linux/arm64")).digest) == D1
    with pytest.raises(NotFound):
        choose_platform(_index(), Platform.parse("linux/s390x"))


def test_bad_platform() -> None:
    with pytest.raises(InvalidParameter):
        Platform.parse("linux")


def test_manifest_over_the_size_cap_is_refused() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": media.DOCKER_MANIFEST, "config": {},
                       "layers": [], "pad": "x" * MAX_MANIFEST}).encode()
    with pytest.raises(InvalidParameter, match="too large"):
        parse_manifest(body)


def test_invalid_manifest() -> None:
    with pytest.raises(InvalidParameter):
        parse_manifest(b"not json")
    with pytest.raises(InvalidParameter):
        parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": media.DOCKER_MANIFEST,
                                   "config": {"digest": "bad", "size": 1}, "layers": []}).encode())


@pytest.mark.parametrize("size", ["101", 100.9, 1e300, True, None, 1 << 63])
def test_a_descriptor_size_is_a_json_integer(size: object) -> None:
    """Go's encoding/json (dockerd's reading of a manifest) takes a descriptor's size only as an
    integer that fits an int64 (`json: cannot unmarshal string into Go struct field
    Descriptor.layers.size of type int64`, `cannot unmarshal number 100.9 ...`); int() took
    "101", and 100.9 as 100, and a pull went on with the wrong size."""
    body = json.dumps({"schemaVersion": 2, "mediaType": media.DOCKER_MANIFEST,
                       "config": {"mediaType": media.DOCKER_CONFIG, "digest": D1, "size": 5},
                       "layers": [{"mediaType": media.DOCKER_LAYER_GZIP, "digest": D2, "size": size}]}).encode()
    with pytest.raises(InvalidParameter, match="is not an integer"):
        parse_manifest(body)


def test_a_descriptor_digest_is_a_string() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": media.DOCKER_MANIFEST,
                       "config": {"mediaType": media.DOCKER_CONFIG, "digest": [D1], "size": 5}, "layers": []})
    with pytest.raises(InvalidParameter, match="is not a string"):
        parse_manifest(body.encode())
