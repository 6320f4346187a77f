"""Fixtures for BuildKit mode: the dockyard CLI with DOCKER_BUILDKIT=1, and the reference
dockerd 20.10 (the shared session fixture of tests/conftest.py) building the same inputs with its
BuildKit, for comparison.

The reference daemon has no bridge network: its builds use `--network=host`. `busybox` and
`mini` (busybox without /dev, /proc, /sys) are imported into it and into each test's store.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.builder.graph.shape import ImageShape, read_archive
from tests.conftest import Dockyard, Imported, Result
from tests.dockerd import DOCKER_CLI, DockerDaemon


class ReferenceBuildKit:
    """dockerd 20.10's BuildKit through the 20.10 CLI (`DOCKER_BUILDKIT=1 docker build`)."""

    def __init__(self, daemon: DockerDaemon) -> None:
        self.daemon = daemon
        self.env = {**daemon.env, "DOCKER_BUILDKIT": "1"}
        self.tags: set[str] = set()  # removed after the test: the daemon is shared by the session

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> Result:
        if args and args[0] == "build":
            self.tags.update(args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-t", "--tag"))
        proc = subprocess.run([DOCKER_CLI, *args], capture_output=True, env=self.env, timeout=timeout)
        result = Result(proc.returncode, proc.stdout.decode(errors="replace"),
                        proc.stderr.decode(errors="replace"), proc.stdout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{result.stderr}")
        return result

    def build(self, ctx: Path, *args: str, check: bool = True) -> Result:
        """`docker build` with BuildKit; its progress (stderr) is in `stderr`."""
        return self.docker("build", "--network=host", "--progress=plain", *args, str(ctx), check=check)

    def shape(self, name: str) -> ImageShape:
        return read_archive(self.docker("save", name).stdout_bytes)


@pytest.fixture
def reference(dockerd: DockerDaemon, busybox_tar: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceBuildKit]:
    """The shared daemon with `busybox` and `mini` (imported again if another test removed them);
    `mini` and every image a test made there are removed after it (other tests compare the
    daemon's images with dockyard's)."""
    def images() -> set[str]:
        return set(dockerd("images", "-aq", "--no-trunc").stdout.split())

    before = images()
    for name, tar in (("busybox:latest", busybox_tar), ("mini:latest", mini_tar(busybox_tar, tmp_path_factory))):
        if dockerd("image", "inspect", name, check=False).returncode != 0:
            dockerd("import", str(tar), name)
    ref = ReferenceBuildKit(dockerd)
    yield ref
    dockerd("rmi", "-f", "mini:latest", *sorted(ref.tags), check=False)
    busybox = dockerd("image", "inspect", "-f", "{{.Id}}", "busybox:latest", check=False).stdout.strip()
    left = images() - before - {busybox}  # untagged images of rebuilds too; busybox stays
    if left:
        dockerd("rmi", "-f", *sorted(left), check=False)


_MINI: dict[str, Path] = {}


def mini_tar(busybox_tar: Path, factory: pytest.TempPathFactory) -> Path:
    """busybox without /dev, /proc, /sys (what the first RUN adds is then visible)."""
    if "path" not in _MINI:
        path = factory.mktemp("mini") / "mini.tar"
        with tarfile.open(busybox_tar) as src, tarfile.open(path, "w") as dst:
            for m in src:
                name = m.name.lstrip("./")
                if name.split("/")[0] in ("dev", "proc", "sys"):
                    continue
                dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        _MINI["path"] = path
    return _MINI["path"]


class BuildKitDockyard(Dockyard):
    """The dockyard CLI with DOCKER_BUILDKIT=1 (progress as plain text on stderr); with `host`,
    its builds go to that `dockyard serve` (`dockyard -H URL build`)."""

    def __init__(self, root: Path, host: str = "") -> None:
        super().__init__(root)
        self.env = {**self.env, "DOCKER_BUILDKIT": "1"}
        self.host = host

    def build(self, ctx: Path, *args: str, check: bool = True, progress: str = "plain") -> Result:
        where = ("-H", self.host) if self.host else ()
        return self.run(*where, "build", f"--progress={progress}", *args, str(ctx), check=check)

    def shape(self, name: str) -> ImageShape:
        return read_archive(self.run("save", name).stdout_bytes)


@pytest.fixture
def bk(store_root: Path, busybox: str, busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory,
       imported: Imported) -> BuildKitDockyard:
    """busybox:latest and mini:latest imported (a copy of a store they were imported in)."""
    d = BuildKitDockyard(store_root)
    imported.into(store_root, (mini_tar(busybox_tar, tmp_path_factory), "mini:latest"))
    return d


@pytest.fixture(params=["in-process", "client"])
def bk_both(request: pytest.FixtureRequest, bk: BuildKitDockyard) -> BuildKitDockyard:
    """BuildKit mode in process, and as a client of `dockyard serve` on the same store."""
    if request.param == "in-process":
        return bk
    server = request.getfixturevalue("daemon")
    return BuildKitDockyard(bk.root, server.url)


def write_context(ctx: Path, dockerfile: str, files: dict[str, str | bytes] | None = None) -> Path:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return ctx
