"""`build` pulls a FROM image the store lacks, and `--pull` pulls even when it has one (Docker's
classic builder: the pull's status lines appear in the step's output)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Dockyard


def test_from_a_missing_image_pulls_it(dockyard: Dockyard, tmp_path: Path, busybox: str, registry) -> None:
    base = f"{registry.host}/base/bb:v1"
    dockyard("tag", "busybox", base)
    dockyard("push", base)
    builder = Dockyard(tmp_path / "builder-store")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo built > /f\n")
    out = builder("build", "-t", "child", str(ctx)).stdout
    lines = out.splitlines()
    assert lines[0] == f"Step 1/2 : FROM {base}"
    assert "v1: Pulling from base/bb" in lines
    assert f"Status: Downloaded newer image for {base}" in lines
    assert builder("image", "inspect", "-f", "{{.Id}}", base).stdout.strip() == busybox
    assert builder("run", "--rm", "child", "cat", "/f").stdout == "built\n"


def test_build_pull_refreshes_a_stale_local_tag(dockyard: Dockyard, tmp_path: Path, busybox: str,
                                                 busybox_tar: Path, registry) -> None:
    base = f"{registry.host}/base/fresh:v1"
    newer = dockyard("import", "-c", "LABEL v=2", str(busybox_tar), base).stdout.strip()
    dockyard("push", base)
    dockyard("tag", "busybox", base)  # the local tag is now stale
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nLABEL child=1\n")
    out = dockyard("build", "-t", "child2", str(ctx)).stdout
    assert "Pulling from" not in out  # without --pull the local image is used
    out = dockyard("build", "--pull", "-t", "child2", str(ctx)).stdout
    assert f"Status: Downloaded newer image for {base}" in out
    assert dockyard("image", "inspect", "-f", "{{.Id}}", base).stdout.strip() == newer


def test_from_an_unknown_image_fails_clearly(dockyard: Dockyard, tmp_path: Path, registry) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {registry.host}/none/x:v1\n")
    r = dockyard("build", str(ctx), check=False)
    assert r.returncode != 0
    assert f"Error: manifest for {registry.host}/none/x:v1 not found: manifest unknown: manifest unknown" in r.stderr
