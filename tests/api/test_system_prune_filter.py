"""`dockyard system prune --filter label=… / label!=… / until=…` (it said "unknown flag"), in
process and as a client of serve, beside `docker system prune` on a dockerd 20.10 of the test's
own (the prune would take what other tests left on the session's daemon): the filters reach
each kind's prune as the docker CLI sends them (containers, networks, volumes, images with
`dangling`, build cache), the same objects go, the prompt lists the filters in the CLI's
natural order, and a key the containers' prune does not know, `dangling`, a bad time or
`until` with `--volumes` are refused before anything is removed.

Noticed and kept: dockerd 20.10's build cache prune takes `label`/`label!` and ignores them
(a TODO in builder-next: `builder prune --filter label=x` removes every dangling record);
dockyard's records have no labels, so `label=x` keeps them all and `label!=x` takes them."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import at_once

DOCKERFILE = "FROM busybox\nLABEL {label}\n"


def _leave_things(cli, ctx: Path, tag: str) -> None:  # noqa: ANN001
    """Per label (a=b, and c=d which the filters do not name): a stopped container, a network
    nobody uses, an image of its own."""
    for label in ("a=b", "c=d"):
        cli("create", "--label", label, "busybox", "true")
        cli("network", "create", "--label", label, f"{tag}-net-{label[0]}")
        (ctx / "Dockerfile").write_text(DOCKERFILE.format(label=label))
        cli("build", "-q", "-t", f"{tag}-img-{label[0]}", str(ctx))


def _ids_free(text: str) -> str:
    """IDs are new each time and images come in their IDs' order: each section's lines sorted."""
    text = re.sub(r"(?m)^[0-9a-f]{64}$", "ID", re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", text))
    return "\n\n".join("\n".join([block.split("\n")[0], *sorted(block.split("\n")[1:])])
                       for block in text.split("\n\n"))


STEPS = [
    # the prompt, answered no: the filters it lists (sortorder.NaturalLess), nothing removed
    ["--filter", "label=a10", "--filter", "until=1h", "--filter", "label!=c", "--filter", "label=a9"],
    # refused before anything goes: the containers' prune knows only label, label! and until
    ["-f", "--filter", "foo=bar"], ["-f", "--filter", "dangling=true"], ["-f", "--filter", "until=xx"],
    ["-f", "--volumes", "--filter", "until=1h"],
    # nothing is older than an hour
    ["-af", "--filter", "until=1h"],
    # a=b's container, network and image
    ["-af", "--filter", "label=a=b"],
    # the rest, created before an hour from now; dockerd's build cache prune then refuses a time
    # (it takes a duration only), after the other kinds' prunes are done
    ["-af", "--filter", "label!=a=b", "--filter", "until=FUTURE"],
]


def _steps(cli, future: str) -> list[tuple[int, str, str]]:  # noqa: ANN001
    out = []
    for flags in STEPS:
        r = cli("system", "prune", *[f.replace("FUTURE", future) for f in flags], input=b"n\n", check=False)
        error = r.stderr.strip().splitlines()[-1] if r.returncode else ""
        printed = _ids_free(r.stdout) if r.stdout.startswith(("Deleted", "Total")) else r.stdout
        out.append((r.returncode, printed, re.sub(r"^(Error: |ERROR: |Error response from daemon: )", "", error)))
    return out


def test_system_prune_filters_as_dockerd_applies_them(dockyard, busybox, busybox_tar: Path, own_dockerd, server,
                                                      tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    future = str(int(time.time()) + 3600)

    def theirs() -> list:
        _leave_things(own_dockerd, tmp_path / "theirs", "p")
        return _steps(own_dockerd, future)

    def ours(*client: str) -> list:
        _leave_things(dockyard, tmp_path / "ours", "p")
        return _steps(lambda *args, **kwargs: dockyard(*client, *args, **kwargs), future)

    reference, in_process = at_once(theirs, ours)
    assert reference[0][1].endswith("  Items to be pruned will be filtered with:\n  - label!=c\n  - label=a9\n"
                                    "  - label=a10\n  - until=1h\n\nAre you sure you want to continue? [y/N] ")
    assert [r[2] for r in reference[1:5]] == [
        "Invalid filter 'foo'", "Invalid filter 'dangling'", 'failed to parse value as time or duration: "xx"',
        'The "until" filter is not supported with "--volumes"']
    assert reference[6][1] == ("Deleted Containers:\nID\n\nDeleted Networks:\np-net-a\n\nDeleted Images:\n"
                               "deleted: sha256:ID\nuntagged: p-img-a:latest\n\nTotal reclaimed space: 0B\n")
    assert reference[7][0] == 1 and "Deleted Networks:\np-net-c\n" in reference[7][1], reference[7]
    assert reference[7][2].startswith("failed to prune build cache: \"until\" filter expects a duration (e.g., "
                                      "'24h'): time: missing unit in duration "), reference[7]
    assert in_process == reference
    dockyard("import", str(busybox_tar), "busybox:latest")   # the last -a took it
    as_client = ours("-H", server.url)
    assert as_client == reference
