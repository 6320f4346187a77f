"""Multi-stage builds: several FROMs, `AS name`, `COPY --from=stage|index|image`, `--target`.
One deliberate difference from Docker 20.10's classic builder: a stage the target does not need
is not built (BuildKit's rule, asked for by the issue); Docker 20.10 builds every stage up to the
target."""

from __future__ import annotations

import tarfile
from pathlib import Path

from dockyard.store.store import Store


def build(dockyard, ctx: Path, dockerfile: str, *args: str, check: bool = True):  # noqa: ANN001, ANN201
    (ctx / "Dockerfile").write_text(dockerfile)
    return dockyard("build", *args, str(ctx), check=check)


def files(dockyard, name: str) -> dict[str, bytes]:  # noqa: ANN001
    store = Store(dockyard.root)
    image = store.image(store.resolve(name))
    out: dict[str, bytes] = {}
    for layer in image.layers[1:]:
        with layer.open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                if m.isreg():
                    out[m.name] = tar.extractfile(m).read()  # type: ignore[union-attr]
    return out


MULTI = """\
FROM busybox AS builder
RUN echo built > /artifact
FROM busybox AS unused
RUN echo unused > /unused
FROM builder AS second
RUN echo second > /second
FROM busybox
COPY --from=builder /artifact /from-name
COPY --from=0 /artifact /from-index
COPY --from=second /second /from-second
COPY --from=busybox /etc/group /from-image
"""


def test_copy_from_stages_and_images(dockyard, busybox, tmp_path: Path) -> None:
    result = build(dockyard, tmp_path, MULTI, "-t", "multi")
    got = files(dockyard, "multi")
    assert got["from-name"] == b"built\n" and got["from-index"] == b"built\n"
    assert got["from-second"] == b"second\n"
    assert got["from-image"].startswith(b"root:x:0:")
    # Docker's classic builder builds every stage, the unused one too, in order
    assert "Step 4/11 : RUN echo unused > /unused" in result.stdout
    assert "Step 1/11 : FROM busybox AS builder" in result.stdout
    assert "Step 5/11 : FROM builder AS second" in result.stdout


def test_target_builds_every_stage_up_to_it(dockyard, busybox, tmp_path: Path) -> None:
    # Docker's classic builder runs the stages before the target, used or not, and none after
    result = build(dockyard, tmp_path, MULTI, "--target", "second", "-t", "tgt")
    assert result.stdout.splitlines()[0] == "Step 1/6 : FROM busybox AS builder"
    assert "Step 4/6 : RUN echo unused > /unused" in result.stdout
    assert "COPY" not in result.stdout
    got = files(dockyard, "tgt")
    assert got == {"artifact": b"built\n", "second": b"second\n"}


def test_stages_share_the_cache(dockyard, busybox, tmp_path: Path) -> None:
    build(dockyard, tmp_path, MULTI)
    again = build(dockyard, tmp_path, MULTI)
    assert again.stdout.count("Using cache") == 7


def test_unknown_target_and_current_stage(dockyard, busybox, tmp_path: Path) -> None:
    bad = build(dockyard, tmp_path, "FROM busybox AS a\n", "--target", "nope", check=False)
    assert bad.returncode != 0
    assert "failed to reach build target nope in Dockerfile" in bad.stderr
    self_ref = build(dockyard, tmp_path, "FROM busybox\nCOPY --from=0 /etc/passwd /p\n", check=False)
    assert "invalid from flag value 0: refers to current build stage" in self_ref.stderr
