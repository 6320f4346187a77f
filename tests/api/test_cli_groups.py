"""dockyard's `container` management group and its `container prune` and `image prune`, as the
docker CLI 20.10 (/usr/bin/docker) prints them against a reference dockerd of this module's own (a
prune removes what the whole daemon holds: the session's dockerd is every other test's), compared
with dockyard in process and as a client of `dockyard serve` on a store of its own, the three at
once; container and image IDs, sizes of layers aside, are compared as <id>."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from tests.api.test_cli_container_extras import Run, _docker, _dockyard, _errors
from dockyard.store.store import Store
from tests.api.conftest import start_server
from tests.conftest import _reference_dockerd, at_once


@pytest.fixture(scope="module")
def fresh_dockerd(busybox_tar):  # noqa: ANN001, ANN201
    yield from _reference_dockerd(busybox_tar)


@pytest.fixture
def client_server(imported, tmp_path: Path):  # noqa: ANN001, ANN201
    """`dockyard serve` on a store of its own holding busybox alone (as the test's store, which
    the in-process way has), so that the client's way runs beside it: a prune takes a whole
    store. One after the other on one store they took ~20 s a test at load 6."""
    root = tmp_path / "client-store"
    Store(root)
    imported.into(root)
    folder = Path(tempfile.mkdtemp(prefix="dy-grp-", dir="/tmp"))   # short: a socket's path
    server = start_server(root, folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _ids(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{64}\b", "<id>", re.sub(r"\b[0-9a-f]{12}\b", "<id>", text))


def _dockyard_words(text: str) -> str:
    return text.replace("docker ", "dockyard ")


def _step(run: Run, *args: str, input: bytes | None = None) -> tuple[str, int, str, str]:
    code, out, err = run(*args, input=input)
    return " ".join(args), code, _ids(out), _ids(_errors(err)) if err else ""


def _ways(dockerd, server, dockyard) -> dict[str, Run]:  # noqa: ANN001
    return {"dockerd": _docker(dockerd.env), "in process": _dockyard(dockyard, {}),
            "client": _dockyard(dockyard, {"DOCKYARD_HOST": server.url})}


def _each_way(dockerd, server, dockyard, scenario: Callable[[Run], list[object]]) -> dict[str, list[object]]:  # noqa: ANN001
    """`scenario` the three ways at once: each has a daemon or store of its own (`server` is the
    client_server fixture's, not on dockyard's store)."""
    ways = _ways(dockerd, server, dockyard)
    results = at_once(*(lambda run=run: scenario(run) for run in ways.values()))
    return dict(zip(ways, results, strict=True))


def _compare(results: dict[str, list[object]]) -> None:
    for way in ("in process", "client"):
        for ours, theirs in zip(results[way], results["dockerd"], strict=True):
            assert ours == theirs, way


def _prunes(run: Run) -> list[object]:
    """The prunes of one way, on a daemon (or store) holding busybox alone."""
    out: list[object] = []
    code, _, err = run("run", "--name", "pc1", "busybox", "sh", "-c", "echo hi > /f")
    assert code == 0, err
    assert run("container", "create", "--label", "pr=1", "--name", "pc2", "busybox", "true")[0] == 0
    assert run("container", "run", "-d", "--name", "pc3", "busybox", "sleep", "600")[0] == 0
    try:
        out.append(_step(run, "container", "prune", "-f", "--filter", "label=pr=1"))
        out.append(_step(run, "container", "prune", input=b"n\n"))
        out.append(_step(run, "container", "prune", "--filter", "until=2000-01-01T00:00:00", "-f"))
        out.append(_step(run, "container", "prune", "-f", "--filter", "foo=bar"))
        out.append(_step(run, "container", "prune", "-f", "--filter", "foo"))
        for answer in (b"\ny\n", b" y\n", b"yes\n", b"Y"):
            out.append(_step(run, "container", "prune", input=answer))
        out.append(_step(run, "container", "ls", "-a", "--format", "{{.Names}}"))
        # a dangling image: pi:1 committed twice
        assert run("commit", "pc3", "pi:1")[0] == 0
        assert run("container", "exec", "pc3", "sh", "-c", "echo more > /g")[0] == 0
        assert run("commit", "-c", "LABEL pr=1", "pc3", "pi:1")[0] == 0
        assert run("tag", "busybox", "pi:2")[0] == 0
        out.append(_step(run, "image", "prune", input=b""))
        out.append(_step(run, "image", "prune", "-f", "--filter", "until=2000-01-01T00:00:00"))
        out.append(_step(run, "image", "prune", "-f"))
        out.append(_step(run, "image", "prune", "-a", "--filter", "foo=bar", "-f"))
        out.append(_step(run, "image", "prune", "-a", input=b"no\ny\n"))
        out.append(_step(run, "image", "prune", "-a", "-f", "--filter", "label=pr=1"))
        out.append(_step(run, "image", "prune", "-a", "-f", "--filter", "label!=pr"))
        out.append(_step(run, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"))
        # network prune and volume prune, asked and printed alike (a named volume: the 20.10 CLI's
        # API 1.41 prunes named ones, dockyard's CLI with -a, as the CLIs since 23.0)
        for args in (["network", "create", "pn1"], ["network", "create", "--label", "pr=1", "pn2"],
                     ["volume", "create", "pv1"]):
            assert run(*args)[0] == 0, args
        out.append(_step(run, "network", "prune", "-f", "--filter", "label=pr=1"))
        out.append(_step(run, "network", "prune", input=b"n\n"))
        out.append(_step(run, "network", "prune", input=b"y\n"))
        out.append(_step(run, "network", "prune", "-f"))
        out.append(_step(run, "volume", "prune", input=b"n\n"))
        out.append(_step(run, "volume", "prune", "-f", "--filter", "label=pr=1"))
    finally:
        run("rm", "-f", "pc1", "pc2", "pc3")
        run("tag", "pi:2", "busybox:latest")   # (untagged by the last prune: the next way's)
        run("rmi", "pi:2")
    return out


def test_container_and_image_prune_as_docker(fresh_dockerd, client_server, dockyard, busybox) -> None:  # noqa: ANN001
    # a prune takes every container or image of its daemon or store: each way has its own
    results = _each_way(fresh_dockerd, client_server, dockyard, _prunes)
    _compare(results)


def test_the_container_group_as_docker(fresh_dockerd, client_server, dockyard, busybox) -> None:  # noqa: ANN001
    def parsed(run: Run) -> list[object]:   # the CLI's own answers: no container touched
        out: list[object] = []
        code, help_out, help_err = run("container", "--help")
        out.append((code, _dockyard_words(help_out), help_err))
        code, alone_out, alone_err = run("container")
        out.append((code, alone_out, _dockyard_words(alone_err)))
        code, unknown_out, unknown_err = run("container", "nope")
        out.append((code, unknown_out, _dockyard_words(unknown_err)))
        out.append(run("container", "ls", "--bad")[0])
        code, _, err = run("container", "rm")   # main.Parser's arity: the CLI's first two lines
        out.append((code, _errors(err.replace('"docker ', '"dockyard ')).splitlines()[:2]))
        return out

    def on_a_container(run: Run) -> list[object]:
        out: list[object] = []
        assert run("container", "create", "--name", "gc1", "busybox", "true")[0] == 0
        try:
            for args in (["container", "ls", "-a", "--format", "{{.Names}} {{.Status}}"],
                         ["container", "list", "-aq"], ["container", "ps", "-a", "--format", "{{.Names}}"],
                         ["container", "inspect", "-f", "{{.Name}} {{.State.Status}}", "gc1"],
                         ["container", "inspect", "busybox"], ["container", "inspect", "-f", "{{.Name}}", "gc1", "nope"],
                         ["inspect", "-f", "{{.Os}}", "busybox"],
                         ["container", "start", "-a", "gc1"], ["container", "wait", "gc1"],
                         ["container", "logs", "gc1"], ["container", "diff", "gc1"],
                         ["container", "rename", "gc1", "gc2"], ["container", "port", "gc2"],
                         ["container", "rm", "gc2"], ["container", "rm", "gc2"],
                         ["tag", "busybox", "gi:1"], ["image", "rmi", "gi:1"], ["image", "rmi", "gi:1"]):
                out.append(_step(run, *args))
        finally:
            run("rm", "-f", "gc1", "gc2")
        return out

    def steps(run: Run) -> list[object]:   # the two parts of a way at once, in their order
        first, then = at_once(lambda: parsed(run), lambda: on_a_container(run))
        return first + then

    results = _each_way(fresh_dockerd, client_server, dockyard, steps)
    # `container remove`, the alias docker CLIs have since 23.0 (not 20.10) (after: the in-process
    # way's ls lists its store's containers)
    assert dockyard("container", "create", "--name", "gc3", "busybox", "true").returncode == 0
    assert dockyard("container", "remove", "gc3").stdout == "gc3\n"
    # docker's group help, with its words
    assert results["dockerd"][0][1].startswith("\nUsage:  dockyard container COMMAND\n\nManage containers\n\nCommands:\n")
    _compare(results)


def test_the_group_loads_only_its_commands_module(dockyard) -> None:  # noqa: ANN001
    # `container X` is parsed by X's module alone (cli/main._COMMAND_MODULE), prune by prune_cmds
    from tests.test_start_up import _loaded

    others = tuple(f"dockyard.cli.{m}" for m in ("image_cmds", "container_cmds", "network_cmds", "registry_cmds",
                                                 "system_cmds", "build_cmd", "cp_cmd", "lifecycle_cmds",
                                                 "version_cmds", "observe_cmds", "attach_cmd", "prune_cmds"))
    for argv, own in ((["container", "ls", "--help"], ["container_cmds"]),   # (inspect's printing: cli/inspect_format)
                      (["container", "list"], ["container_cmds"]),
                      (["container", "cp", "--help"], ["cp_cmd"]), (["container", "top", "--help"], ["observe_cmds"]),
                      (["container", "prune", "--help"], ["prune_cmds"]), (["image", "prune", "--help"], ["prune_cmds"])):
        try:
            loaded = _loaded(dockyard, argv, others)
        except subprocess.CalledProcessError as exc:
            raise AssertionError(exc.stderr) from None
        assert loaded == str([f"dockyard.cli.{m}" for m in own]), argv
