"""image.mutate.append: the config bytes a build step, a commit and an import make (their sha256 is
the image ID, so these bytes are pinned: a change here changes every image ID and cache hit)."""

from __future__ import annotations

import dataclasses
import json

from dockyard.digest import Digest
from dockyard.image.config import ContainerConfig, History, ImageConfig
from dockyard.image.image import Image, check_layers_match_config
from dockyard.image.mutate import DOCKER_VERSION, append

T = "2024-05-06T07:08:09.123456789Z"


@dataclasses.dataclass(frozen=True)
class FakeLayer:
    diff_id: Digest
    size: int = 0

    def open(self):  # noqa: ANN201 - not read here
        raise NotImplementedError


A, B = FakeLayer(Digest("sha256", "a" * 64)), FakeLayer(Digest("sha256", "b" * 64))

# A base as Docker writes one (its top-level keys in Docker's order, plus one we do not know).
BASE = ImageConfig.parse(json.dumps({
    "architecture": "amd64", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
    "container": "c0", "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"]},
    "created": "2020-01-01T00:00:00Z", "docker_version": "20.10.24", "parent": "sha256:" + "0" * 64,
    "x-unknown": 1, "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD"}],
    "os": "linux", "rootfs": {"type": "layers", "diff_ids": [str(A.diff_id)]},
}).encode())


# Docker 20.10 writes a config as its container.Config struct: every field but the omitempty ones
FULL_START = (b'{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,'
              b'"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,')
FULL_END = b'"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}'


def test_build_step_bytes() -> None:
    # The classic builder's commit: the base's container fields and parent replaced, docker_version last.
    probe = {"Cmd": ["/bin/sh", "-c", "echo hi"], "Image": "sha256:" + "1" * 64}
    image = append(BASE, [A], B, History(created_by="/bin/sh -c echo hi"),
                   config=ContainerConfig(env=["PATH=/bin"], cmd=["sh"]), author="me",
                   drop=("container", "container_config", "docker_version", "parent"),
                   extra={"container": "c1", "container_config": probe}, created=T)
    assert image.raw_config == (
        b'{"architecture":"amd64","author":"me","config":' + FULL_START + b'"Env":["PATH=/bin"],'
        b'"Cmd":["sh"],' + FULL_END + b','
        b'"created":"2024-05-06T07:08:09.123456789Z","x-unknown":1,"container":"c1",'
        b'"container_config":{"Cmd":["/bin/sh","-c","echo hi"],"Image":"sha256:' + b"1" * 64 + b'"},'
        b'"docker_version":"dockyard-0.1.0","history":[{"created":"2020-01-01T00:00:00Z",'
        b'"created_by":"/bin/sh -c #(nop) ADD"},{"created":"2024-05-06T07:08:09.123456789Z",'
        b'"created_by":"/bin/sh -c echo hi"}],"os":"linux","rootfs":{"type":"layers","diff_ids":'
        b'["sha256:' + b"a" * 64 + b'","sha256:' + b"b" * 64 + b'"]}}')
    assert image.layers == (A, B)
    check_layers_match_config(image)


def test_commit_keeps_the_place_of_a_kept_key() -> None:
    # `docker commit`: docker_version is kept where the base has it (the order is in the bytes).
    image = append(BASE, [A], B, History(created_by="sh", author="au", comment="msg"),
                   config=BASE.config, author="au", drop=("container", "container_config"), created=T)
    data = json.loads(image.raw_config)
    assert list(data) == ["architecture", "author", "config", "created", "docker_version", "parent",
                          "x-unknown", "history", "os", "rootfs"]
    assert data["docker_version"] == DOCKER_VERSION
    assert data["history"][-1] == {"created": T, "author": "au", "created_by": "sh", "comment": "msg"}


def test_no_layer_is_an_empty_history_entry() -> None:
    image = append(BASE, [A], None, History(created_by="/bin/sh -c #(nop)  ENV X=1"),
                   config=BASE.config, created=T)
    assert image.config.diff_ids == [A.diff_id]
    assert image.config.history[-1] == History(created=T, created_by="/bin/sh -c #(nop)  ENV X=1",
                                               empty_layer=True)
    assert image.layers == (A,)


def test_import_from_an_empty_base() -> None:
    image = append(ImageConfig(architecture="arm64", os="linux", variant="v8"), [], A,
                   History(comment="Imported from -"), config=ContainerConfig(), comment="Imported from -",
                   created=T)
    assert image.raw_config == (
        b'{"architecture":"arm64","comment":"Imported from -","config":' + FULL_START
        + b'"Env":null,"Cmd":null,' + FULL_END + b','
        b'"created":"2024-05-06T07:08:09.123456789Z","docker_version":"dockyard-0.1.0",'
        b'"history":[{"created":"2024-05-06T07:08:09.123456789Z","comment":"Imported from -"}],'
        b'"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:' + b"a" * 64 + b'"]},'
        b'"variant":"v8"}')
    assert isinstance(image, Image) and image.id == Digest.of_bytes(image.raw_config)


def test_one_creation_time_now_by_default() -> None:
    image = append(BASE, [A], None, History(), config=BASE.config)
    assert image.config.created and image.config.created == image.config.history[-1].created
    assert image.config.created > BASE.created  # type: ignore[operator]
