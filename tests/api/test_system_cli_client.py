"""`dockyard system prune` as a client of `dockyard serve` (`DOCKYARD_HOST`): it refused. It asks
the daemon as the docker CLI does (each kind's prune in turn) and prints what the in-process
prune prints of the same store, the prompt's answer and -a included; `system check` has no
Engine API counterpart and still refuses (tests/client)."""

from __future__ import annotations

import re
from pathlib import Path


def test_system_prune_as_a_client(server, dockyard, busybox, busybox_tar: Path) -> None:  # noqa: ANN001
    client = {"DOCKYARD_HOST": server.url}

    def leave_things() -> None:
        """Two stopped containers, a network nobody uses, a second tag of busybox and an image
        no name keeps."""
        dockyard("create", "busybox", "true")
        dockyard("network", "create", "prune-net")
        dockyard("tag", "busybox", "prune-me:1")
        dockyard("commit", dockyard("create", "busybox", "true").stdout.strip(), "dangling:1")
        dockyard("tag", "busybox", "dangling:1")   # the commit is left without a name

    def ids_free(text: str) -> str:
        """The containers' and the commit's IDs are new each time, and the images come in the
        order of their IDs: each section's lines sorted."""
        text = re.sub(r"(?m)^[0-9a-f]{64}$", "ID", re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", text))
        return "\n\n".join("\n".join([block.split("\n")[0], *sorted(block.split("\n")[1:])])
                           for block in text.split("\n\n"))

    def same(local, remote) -> None:  # noqa: ANN001
        assert (remote.returncode, ids_free(remote.stdout), remote.stderr) == \
            (local.returncode, ids_free(local.stdout), local.stderr)

    leave_things()
    same(dockyard.run("system", "prune", input=b"n\n"), dockyard.run("system", "prune", input=b"n\n", env=client))
    local = dockyard.run("system", "prune", input=b"y\n")
    assert "Deleted Networks:\nprune-net\n" in local.stdout and "untagged: dangling:1" not in local.stdout
    leave_things()
    same(local, dockyard.run("system", "prune", input=b"y\n", env=client))
    leave_things()
    local = dockyard.run("system", "prune", "-a", "--volumes", "-f")
    assert "untagged: busybox:latest" in local.stdout
    dockyard("import", str(busybox_tar), "busybox:latest")    # -a took it
    leave_things()
    same(local, dockyard.run("system", "prune", "-a", "--volumes", "-f", env=client))
    assert dockyard("images", "-q").stdout == ""
