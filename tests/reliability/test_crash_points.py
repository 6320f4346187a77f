"""kill -9 at exact points (strace syscall injection, tests/reliability/crash.py) of rmi, load,
import, commit, build and pull. After every kill the store keeps every promise (each listed
image whole: every layer hashes to its diff ID), and after the next start of dockyard nothing is
left behind (no temp folder of a dead process, no unreferenced blob, no dead link). Then the
operation, run again, succeeds.

Issue 16.4: a kill inside rmi's garbage collection, between deleting a pulled layer's compressed
blob and moving its directory, left a layer that a later pull took as "Already exists" and that
could neither run nor save. The figures of each sweep are printed (pytest -s shows them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.store.check import check_store
from dockyard.store.store import Store
from tests.conftest import Dockyard
from tests.reliability.conftest import mounts_under
from tests.reliability.crash import Tally, copy_store, sweep

FIGURES: dict[str, Tally] = {}


def _whole_and_clean(dockyard: Dockyard) -> list[str]:
    """Check the store after a kill, start dockyard once, check nothing is left; returns the
    image IDs listed."""
    report = check_store(Store(dockyard.root))
    assert report.problems == [], "\n".join(report.problems)
    listed = dockyard("images", "-aq", "--no-trunc").stdout.split()  # the next start
    report = check_store(Store(dockyard.root))
    assert report.problems == [] and report.leftovers == [], "\n".join(report.problems + report.leftovers)
    return listed


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    from tests.registry.registryd import RegistryServer

    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path, registry) -> dict[str, Path]:
    """Stores to copy: `local` (busybox imported, plus a stopped container), `pulled` (busybox
    pulled from the registry: its layer is kept as the compressed blob), `imported` (busybox
    imported, its layer never unpacked), and an archive."""
    base = tmp_path_factory.mktemp("templates")
    local = Dockyard(base / "local")
    image = local("import", str(busybox_tar), "busybox:latest").stdout.strip()
    name = f"{registry.host}/crash/bb:1"
    local("tag", "busybox", name)
    local("push", name)
    local("rmi", name)
    local("create", "--name", "stopped", "busybox", "sh", "-c", "echo changed > /f")
    (base / "bb.tar").write_bytes(local("save", "busybox").stdout_bytes)
    pulled = Dockyard(base / "pulled")
    pulled("pull", name)
    empty = Dockyard(base / "empty")
    empty("images")
    imported = Dockyard(base / "imported")
    imported("import", str(busybox_tar), "busybox:latest")
    return {"local": local.root, "pulled": pulled.root, "empty": empty.root, "archive": base / "bb.tar",
            "name": Path(name), "image": Path(image), "imported": imported.root}


def _fresh(templates: dict[str, Path], which: str, tmp_path: Path):  # noqa: ANN202
    return lambda i: copy_store(templates[which], tmp_path / f"s{i}")


def test_rmi_of_a_pulled_image_killed_anywhere(templates, tmp_path: Path) -> None:
    name = str(templates["name"])

    def check(dockyard: Dockyard, killed: bool) -> None:
        listed = _whole_and_clean(dockyard)
        assert listed in ([], [str(templates["image"])])
        if not killed:
            assert listed == []
        if int(dockyard.root.name[1:]) % 4 == 0:  # every 4th run (store s0, s4, ...: _fresh)
            # Pulled again, the image is whole: every layer saves (issue 16.4's layer that
            # "Already exists" could not).
            dockyard("pull", name)
            assert check_store(Store(dockyard.root)).problems == []
            assert len(dockyard("save", name).stdout_bytes) > 1 << 20

    FIGURES["rmi (pulled)"] = sweep(_fresh(templates, "pulled", tmp_path), ["rmi", name],
                                    {"rename": 1, "unlink": 2, "fsync": 3, "unlinkat": 0, "rmdir": 0},
                                    check)


def test_load_killed_anywhere(templates, tmp_path: Path) -> None:
    archive = templates["archive"].read_bytes()

    def check(dockyard: Dockyard, killed: bool) -> None:
        listed = _whole_and_clean(dockyard)
        assert listed in ([], [str(templates["image"])])
        if not killed:
            assert listed == [str(templates["image"])]
        else:
            assert dockyard("load", input=archive).stdout == "Loaded image: busybox:latest\n"
            assert check_store(Store(dockyard.root)).problems == []

    FIGURES["load"] = sweep(_fresh(templates, "empty", tmp_path), ["load"],
                            {"rename": 2, "fsync": 4, "mkdir": 0},
                            check, stdin=archive)


def test_import_killed_anywhere(templates, busybox_tar: Path, tmp_path: Path) -> None:
    def check(dockyard: Dockyard, killed: bool) -> None:
        listed = _whole_and_clean(dockyard)
        assert len(listed) == (0 if killed and not listed else 1)

    FIGURES["import"] = sweep(_fresh(templates, "empty", tmp_path), ["import", str(busybox_tar), "imp:1"],
                              {"rename": 2, "fsync": 0}, check)


def test_commit_killed_anywhere(templates, tmp_path: Path) -> None:
    def check(dockyard: Dockyard, killed: bool) -> None:
        listed = _whole_and_clean(dockyard)
        assert len(listed) in (1, 2)
        if not killed:
            assert len(listed) == 2
        # The container is left as it was: it commits again.
        assert dockyard("commit", "stopped", "snap:2").stdout.startswith("sha256:")

    FIGURES["commit"] = sweep(_fresh(templates, "local", tmp_path), ["commit", "stopped", "snap:1"],
                              {"rename": 1, "fsync": 0}, check)


def test_build_killed_anywhere(templates, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "data").write_bytes(b"x" * 100_000)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY data /data\nLABEL step=2\nWORKDIR /w\n")

    def check(dockyard: Dockyard, killed: bool) -> None:
        _whole_and_clean(dockyard)
        out = dockyard("build", "-q", "-t", "built:1", str(ctx)).stdout.strip()
        assert dockyard("image", "inspect", "-f", "{{.Id}}", "built:1").stdout.strip() == out

    FIGURES["build"] = sweep(_fresh(templates, "local", tmp_path), ["build", "-t", "built:1", str(ctx)],
                             {"rename": 6, "fsync": 0}, check)


def _built_again(dockyard: Dockyard, ctx: Path, files: str) -> None:
    """After a kill of a build of RUN steps: the store whole, nothing left mounted after the next
    start, and the next build makes the image, whose /a and /b are `files`."""
    _whole_and_clean(dockyard)
    assert mounts_under(dockyard.root) == []
    out = dockyard("build", "-q", "-t", "built:1", str(ctx)).stdout.strip()
    assert dockyard("image", "inspect", "-f", "{{.Id}}", "built:1").stdout.strip() == out
    assert dockyard("run", "--rm", "--network", "none", "built:1", "cat", "/a", "/b").stdout == files


def test_build_with_runs_killed_anywhere(templates, tmp_path: Path) -> None:
    """A classic RUN step's image is written by a worker thread behind the next RUN's container
    (builder/classic/state.py): killed at any of either's calls, the store is whole, nothing is
    left mounted after the next start, and the next build makes the image."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nRUN echo b > /b\n")

    def check(dockyard: Dockyard, killed: bool) -> None:
        _built_again(dockyard, ctx, "a\nb\n")

    FIGURES["build RUN"] = sweep(_fresh(templates, "local", tmp_path), ["build", "-t", "built:1", str(ctx)],
                                 {"rename": 2, "fsync": 2}, check)


def test_buildkit_runs_killed_anywhere(templates, tmp_path: Path) -> None:
    """BuildKit mode's RUN chain: a RUN's layer is its tar, written and synced, and its tree is
    the step's overlay upper dir, moved into the layer when a later step stands on it
    (builder/graph/execute.py): killed at any of the build's renames, symlinks or fsyncs, the
    store is whole, nothing is left mounted after the next start, and the next build runs on
    the trees it finds (or unpacks again)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a && mkdir /d && echo d > /d/f\n"
                                    "RUN cat /a /d/f > /b\n")

    def fresh(i: int) -> Dockyard:
        dockyard = copy_store(templates["local"], tmp_path / f"s{i}")
        dockyard.env = {**dockyard.env, "DOCKER_BUILDKIT": "1"}
        return dockyard

    def check(dockyard: Dockyard, killed: bool) -> None:
        _built_again(dockyard, ctx, "a\na\nd\n")

    FIGURES["build RUN (BuildKit)"] = sweep(fresh, ["build", "-t", "built:1", str(ctx)],
                                            {"rename": 1, "symlink": 1, "fsync": 1}, check)


def test_pull_killed_anywhere(templates, tmp_path: Path) -> None:
    name = str(templates["name"])

    def check(dockyard: Dockyard, killed: bool) -> None:
        listed = _whole_and_clean(dockyard)
        assert listed in ([], [str(templates["image"])])
        dockyard("pull", name)
        digests = json.loads(dockyard("image", "inspect", "-f", "{{json .RepoDigests}}", name).stdout)
        assert len(digests) == 1
        assert check_store(Store(dockyard.root)).problems == []

    FIGURES["pull"] = sweep(_fresh(templates, "empty", tmp_path), ["pull", name],
                            {"rename": 2, "fsync": 0}, check)


def _names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _containers_whole(dockyard: Dockyard) -> list[str]:
    """Every directory under containers/ is a container `ps -a` lists, every hold names one,
    every short link under l/ is one a layer names; returns the listed IDs."""
    ids = dockyard("ps", "-aq", "--no-trunc").stdout.split()
    root = dockyard.root
    assert _names(root / "containers") == sorted(ids)
    assert _names(root / "holds") == sorted(ids)
    store = Store(root)
    links = [store.layers.dir(d) / "link" for d in store.layers.all()]
    assert set(_names(root / "l")) <= {p.read_text() for p in links if p.is_file()}
    return ids


def test_create_killed_anywhere(templates, tmp_path: Path) -> None:
    """A killed `create` left its half-made directory in containers/ (no record: listed by
    nothing, removed by nothing) and could leave its hold on the image. The container is made in
    the process's temp folder and moved in by one rename, its hold void without it."""
    def check(dockyard: Dockyard, killed: bool) -> None:
        _whole_and_clean(dockyard)
        ids = _containers_whole(dockyard)
        assert len(ids) <= 1 and (killed or ids)
        if ids:
            dockyard("rm", *ids)
        assert _containers_whole(dockyard) == []
        dockyard("rmi", "busybox")  # no hold is left on it

    FIGURES["create"] = sweep(_fresh(templates, "imported", tmp_path),
                              ["create", "--name", "cc", "busybox", "true"],
                              {"rename": 2, "mkdir": 5, "fsync": 0}, check)


def test_run_killed_anywhere(templates, tmp_path: Path) -> None:
    """`run --rm` creates, unpacks the image's layer (issue 16.12: a killed unpack left its
    work tree for ever), mounts, runs and removes. Killed anywhere: the store is whole, nothing
    is left after the next start but maybe a container that `rm -f` removes, with its mount."""
    def check(dockyard: Dockyard, killed: bool) -> None:
        _whole_and_clean(dockyard)
        ids = dockyard("ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            dockyard("rm", "-f", *ids)
        assert _containers_whole(dockyard) == [] and mounts_under(dockyard.root) == []
        assert dockyard("run", "--rm", "--network", "none", "busybox", "cat", "/etc/hostname").returncode == 0
        assert _containers_whole(dockyard) == [] and mounts_under(dockyard.root) == []
        dockyard("rmi", "busybox")

    FIGURES["run"] = sweep(_fresh(templates, "imported", tmp_path),
                           ["run", "--rm", "--network", "none", "busybox", "true"],
                           {"rename": 6, "mkdir": 10, "mkdirat": (5, 8), "symlink": 0, "syncfs": 1, "fsync": 0},
                           check)


def test_rm_killed_anywhere(templates, tmp_path: Path) -> None:
    """A killed `rm` of a stopped container leaves it whole (listed, removable) or gone, with
    its hold."""
    def check(dockyard: Dockyard, killed: bool) -> None:
        _whole_and_clean(dockyard)
        ids = _containers_whole(dockyard)
        assert len(ids) <= 1 and (killed or not ids)
        if ids:
            dockyard("rm", *ids)
        dockyard("rmi", "busybox")
        assert _containers_whole(dockyard) == []

    FIGURES["rm"] = sweep(_fresh(templates, "local", tmp_path), ["rm", "stopped"],
                          {"rename": 1, "unlink": 1, "fsync": 0}, check)


def test_zz_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """The crash points of this module, for the record (runs last)."""
    with capsys.disabled():
        total = sum(t.crash_points for t in FIGURES.values())
        print(f"\ncrash points (strace kill -9): {total}: " + ", ".join(
            f"{op} {t.crash_points} {t.by_syscall}" for op, t in FIGURES.items()))


def test_a_killed_commit_leaves_no_container_paused(dockyard: Dockyard, busybox: str) -> None:
    """Issue 16.13: commit pauses a running container while it reads it; killed before it
    unpaused, the container stayed frozen. The pause is recorded with the commit's lock, and the
    next command that looks at the container undoes it."""
    from tests.reliability.crash import run_killed_at

    dockyard("run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do date > /t; sleep 0.1; done")
    killed = run_killed_at(dockyard, ["commit", "busy", "snap:1"], "rename", 1)
    assert killed
    status = dockyard("ps").stdout
    assert " Up " in status and "(Paused)" not in status, status
    assert dockyard("exec", "busy", "echo", "alive").stdout == "alive\n"
    dockyard("rm", "-f", "busy")
