"""SOURCE_DATE_EPOCH (BuildKit mode): two machines (fresh stores), the context checked out at
other paths with other mtimes, `--no-cache`: the same image ID, the same layer digests, and after
`push` the same manifest digest. Times in the config, the history and every tar header are the
epoch (or older); the base image's stay."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from tests.conftest import Dockyard

DOCKERFILE = """\
FROM {base}
ARG V=1
COPY . /src
RUN mkdir -p /out && echo "$V" > /out/v && date > /out/built-at-some-time-but-content-fixed \\
    && rm /out/built-at-some-time-but-content-fixed && touch /out/new
WORKDIR /work
COPY --chmod=755 run.sh /usr/local/bin/run
"""
EPOCH = 1_700_000_000


def make_context(path: Path, base: str, mtime: int) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "a.txt").write_text("a\n")
    (path / "sub" / "b.txt").write_text("b\n")
    (path / "run.sh").write_text("#!/bin/sh\necho run\n")
    (path / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    for p in path.rglob("*"):
        os.utime(p, (mtime, mtime))
    os.utime(path, (mtime, mtime))
    return path


def test_same_image_and_manifest_on_two_machines(machine, busybox_tar: Path, registry, tmp_path: Path) -> None:
    base = f"{registry.host}/repro/base:1"
    a, b = machine("a"), machine("b")
    a("import", str(busybox_tar), base)
    a("push", base)
    results = []
    # checkouts made after the commit time (the epoch), at different times
    for cli, where, mtime, how in ((a, "x/checkout", EPOCH + 1000, "env"), (b, "elsewhere/y", EPOCH + 99999, "arg")):
        ctx = make_context(tmp_path / where, base, mtime)
        env = {"DOCKER_BUILDKIT": "1"}
        args = ["build", "--no-cache", "-t", f"{registry.host}/repro/app:{how}"]
        if how == "env":
            env["SOURCE_DATE_EPOCH"] = str(EPOCH)
        else:
            args += ["--build-arg", f"SOURCE_DATE_EPOCH={EPOCH}"]
        cli(*args, str(ctx), env=env)
        name = f"{registry.host}/repro/app:{how}"
        image = json.loads(cli("image", "inspect", name).stdout)[0]
        pushed = cli("push", name).stdout
        digest = [l for l in pushed.splitlines() if "digest: sha256:" in l][0].split("digest: ")[1].split()[0]
        results.append((image["Id"], image["RootFS"]["Layers"], digest, image))
    (id_a, layers_a, manifest_a, image), (id_b, layers_b, manifest_b, _) = results
    if os.environ.get("REPRO_DEBUG"):
        print(json.dumps([r[3] for r in results], indent=1))
    assert id_a == id_b
    assert layers_a == layers_b
    assert manifest_a == manifest_b
    assert image["Created"].startswith("2023-11-14T22:13:20")  # the epoch
    # every tar header of the build's own layers is at most the epoch
    saved = a("save", f"{registry.host}/repro/app:env").stdout_bytes
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        names = [m.name for m in outer.getmembers() if m.name.startswith("blobs/") and m.isfile()]
        checked = 0
        for name in names:
            data = outer.extractfile(name).read()
            try:
                inner = tarfile.open(fileobj=io.BytesIO(data))
                members = inner.getmembers()
            except tarfile.TarError:
                continue  # a config or manifest
            if any(m.name.endswith("bin/busybox") for m in members):
                continue  # the base image's layer keeps its times
            assert members and all(m.mtime <= EPOCH for m in members), name
            checked += 1
        assert checked == 4


def test_a_bad_epoch_is_refused_before_any_work(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN touch /x\n")
    r = dockyard("build", "--build-arg", "SOURCE_DATE_EPOCH=yesterday", str(tmp_path),
                 env={"DOCKER_BUILDKIT": "1"}, check=False)
    assert r.returncode != 0
    assert "invalid SOURCE_DATE_EPOCH 'yesterday'" in r.stderr
