"""`dockyard images/image inspect/tag/rmi` as clients of `dockyard serve` (`DOCKYARD_HOST`): each
prints what it prints in process on the same store, exit codes and one-line errors included."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor


def _moment_free(text: str) -> str:
    """`3 seconds ago` as `T ago` and the table's padding as two spaces: the two runs are a
    moment apart."""
    return re.sub(r" {2,}", "  ", re.sub(r"(Less than a second|About a minute|an? \w+|\d+ \w+?s?)(?= ago)", "T",
                                         text))


def test_image_commands_as_a_client(server, dockyard, busybox) -> None:  # noqa: ANN001
    client = {"DOCKYARD_HOST": server.url}

    def same(*args: str, edit=lambda text: text) -> None:  # noqa: ANN001
        # (the two at once: each command given here only reads, or fails)
        with ThreadPoolExecutor(2) as pool:
            local = pool.submit(dockyard.run, *args, check=False)
            remote = pool.submit(dockyard.run, *args, env=client, check=False)
            local, remote = local.result(), remote.result()
        assert (local.returncode, _moment_free(local.stdout), local.stderr) == \
            (remote.returncode, _moment_free(remote.stdout), remote.stderr), args

    dockyard("tag", "busybox", "localhost:5000/one/two:three")
    dockyard("tag", "busybox", "dangling-soon")
    dockyard("tag", "busybox", "dangling-soon:2")
    for args in (["images"], ["images", "-a"], ["images", "-q"], ["images", "--digests", "--no-trunc"],
                 ["images", "--format", "json"], ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
                 ["images", "busybox"], ["images", "localhost:5000/*/*"], ["images", "nothing"],
                 ["image", "ls", "-q", "--no-trunc"],
                 ["image", "inspect", "busybox"], ["image", "inspect", "-f", "{{.Id}} {{.RepoTags}}", "busybox"],
                 ["image", "inspect", "busybox", "nothing-here"], ["image", "inspect", "nothing-here"],
                 ["tag", "nothing-here", "x"], ["tag", "busybox", "Bad:Name"],
                 ["tag", "busybox", "x@sha256:" + "0" * 64], ["rmi", "nothing-here"]):
        same(*args)

    # the ones that change the store: in process on one name, as a client on another
    for local, remote in ((["tag", "busybox", "l1"], ["tag", "busybox", "r1"]),
                          (["tag", busybox[7:19], "localhost:5000/l:2"], ["tag", busybox[7:19], "localhost:5000/r:2"]),
                          (["rmi", "l1", "nothing", "localhost:5000/l:2"], ["rmi", "r1", "nothing", "localhost:5000/r:2"])):
        a = dockyard.run(*local, check=False)
        b = dockyard.run(*remote, env=client, check=False)
        assert (a.returncode, a.stdout.replace("l1", "r1").replace("/l:", "/r:"), a.stderr) == \
            (b.returncode, b.stdout, b.stderr), (local, remote)
    assert "r1" not in dockyard("images").stdout
    # removing an image: its untags and deletes, in order
    dockyard("tag", "busybox", "gone:1")
    same("rmi", busybox)   # in use by tags: refused the same way
    removed = dockyard.run("rmi", "-f", busybox, env=client)
    assert removed.stdout.startswith("Untagged: ") and f"Deleted: {busybox}\n" in removed.stdout, removed.stdout
    assert dockyard("images", "-q").stdout == ""


def test_system_df_and_builder_prune_as_a_client(server, dockyard, busybox, tmp_path) -> None:  # noqa: ANN001
    client = {"DOCKYARD_HOST": server.url}
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=cache,target=/c echo hi > /c/f\n"
                                         "RUN echo layer > /l\n")
    bk = {"DOCKER_BUILDKIT": "1"}
    for args in (["system", "df"], ["builder", "prune", "-f", "--keep-storage", "1g"],
                 ["builder", "prune", "-f", "--filter", "colour=red"]):
        local = dockyard.run(*args, check=False)
        remote = dockyard.run(*args, env=client, check=False)
        assert (local.returncode, local.stdout, local.stderr) == (remote.returncode, remote.stdout, remote.stderr), args
    # the same cache made twice (its records are keyed by content): pruned once each way
    pruned = []
    for env in ({}, client):
        dockyard("build", "-q", str(tmp_path), env=bk)
        df = [dockyard.run("system", "df", env=e).stdout for e in ({}, client)]
        assert df[0] == df[1] and "Build Cache" in df[0]
        pruned.append(dockyard.run("builder", "prune", "-a", "-f", env=env))
    assert pruned[0].stdout == pruned[1].stdout and "Deleted build cache objects:" in pruned[0].stdout, pruned
