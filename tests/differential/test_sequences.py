"""Command sequences through the docker CLI + dockerd 20.10 and through dockyard: tag/images/rmi,
commit, save/load across the two, export/import, history. Each compares what a user sees (the
output with time-derived IDs normalised, errors, exit status) and the images made (config,
history, files)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.differential.harness import (
    Pair, diff_images, layer_entries, normalise_config, normalise_error, read_saved,
)

NAMES = ["127.0.0.1:5000/app:1", "127.0.0.1:5000/app:2", "localhost/team/tool:v1.2",
         "plain:1", "registry.example:443/ns/deep/img:latest", "busybox:extra"]
# Docker's reference filter (`docker images PATTERN`) on every form a name takes
PATTERNS = ["127.0.0.1:5000/app:1", "127.0.0.1:5000/app", "127.0.0.1:5000/*", "*/app:1",
            "127.0.0.1:5000/app:[12]", "plain:1", "plain", "pla*", "busybox", "busybox:extra",
            "library/busybox", "docker.io/library/busybox", "*/*/tool:*", "localhost/team/tool",
            "registry.example:443/ns/*/img", "registry.example:443/ns/**", "app", "nothing:1",
            "*/team/*:*", "b?sybox:latest", "[bp]*:[1e]*"]
# (no bare `*`: the session's dockerd also holds what other tests made)


def _rows(text: str) -> list[tuple[str, str]]:
    """(REPOSITORY, TAG) of each row of an `images` table."""
    return sorted(tuple(re.split(r"\s{2,}", line.strip())[:2]) for line in text.splitlines()[1:]
                  if line.strip())


def _read_on_both(pair: Pair, commands: list[tuple[str, ...]]) -> list[tuple]:
    """(command, docker's result, dockyard's) of commands that only read, several at once."""
    with ThreadPoolExecutor(4) as pool:
        runs = [(c, pool.submit(pair.run_docker, *c), pool.submit(pair.run_dockyard, *c)) for c in commands]
        return [(c, d.result(), y.result()) for c, d, y in runs]


def test_images_reference_filter(pair: Pair) -> None:
    # the names: `docker tag` each, dockyard's made in process (engine/images.tag_image, which
    # its `tag` runs: its CLI's tag and rmi are test_tag_and_rmi's), the two sides at once
    from dockyard.engine.images import tag_image

    def dockyard_tags() -> None:
        for name in NAMES:
            tag_image(pair.dockyard.store, "busybox:latest", name)
    pair.both(lambda: [pair.run_docker("tag", "busybox:latest", name) for name in NAMES], dockyard_tags)
    try:
        problems = []
        for command, d, y in _read_on_both(pair, [("images", pattern) for pattern in PATTERNS]):
            if (_rows(d.stdout), d.returncode) != (_rows(y.stdout), y.returncode):
                problems.append(f"{' '.join(command)}: docker {_rows(d.stdout)} ({d.returncode}), "
                                f"dockyard {_rows(y.stdout)} ({y.returncode}) {y.stderr.strip()}")
        quiet = [("images", "-q", pattern) for pattern in ("127.0.0.1:5000/app", "busybox")]
        for command, dq, yq in _read_on_both(pair, quiet):  # -q: an ID per row
            if dq.stdout != yq.stdout:
                problems.append(f"{' '.join(command)}: docker {dq.stdout!r}, dockyard {yq.stdout!r}")
        assert not problems, "\n".join(problems)
    finally:   # (one rmi of all the names each side)
        pair.both(lambda: pair.run_docker("rmi", *NAMES), lambda: pair.run_dockyard("rmi", *NAMES))


def test_tag_and_rmi(pair: Pair) -> None:
    steps = [("tag", "busybox:latest", "seq-tag:1"), ("tag", "busybox", "seq-tag:2"),
             ("rmi", "seq-tag:1"), ("rmi", "seq-tag:1"), ("tag", "nosuch:1", "x:1"),
             ("rmi", "nosuch:9"), ("tag", "busybox", "Bad:Name"), ("rmi", "seq-tag:2")]
    problems = []
    for step in steps:
        d, y = pair.both(lambda: pair.run_docker(*step), lambda: pair.run_dockyard(*step))
        got = [(r.returncode, r.stdout.strip(), normalise_error(r.stderr)) for r in (d, y)]
        if got[0] != got[1]:
            problems.append(f"{' '.join(step)}:\n  docker:   {got[0]}\n  dockyard: {got[1]}")
    assert not problems, "\n".join(problems)


def test_save_and_load_across(pair: Pair, tmp_path: Path) -> None:
    """An image built by one engine, saved, loads into the other with the same ID, tags and
    config: `docker load` reads dockyard's archive and dockyard reads `docker save`'s."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY f /f\nENV X=1\nRUN echo hi > /g\n")
    (ctx / "f").write_text("f\n")
    pair.build("docker", ctx, [], "seq-from-docker:1")
    pair.build("dockyard", ctx, [], "seq-from-dockyard:1")
    from_docker, from_dockyard = tmp_path / "d.tar", tmp_path / "y.tar"
    pair.docker("save", "-o", str(from_docker), "seq-from-docker:1")
    pair.dockyard("save", "-o", str(from_dockyard), "seq-from-dockyard:1")
    d, y = pair.both(lambda: pair.run_dockyard("load", "-i", str(from_docker)),
                     lambda: pair.run_docker("load", "-i", str(from_dockyard)))
    assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
    assert d.stdout.strip().splitlines()[-1] == "Loaded image: seq-from-docker:1"
    assert y.stdout.strip().splitlines()[-1] == "Loaded image: seq-from-dockyard:1"
    for name in ("seq-from-docker:1", "seq-from-dockyard:1"):
        ids = [pair.docker("image", "inspect", "--format", "{{.Id}}", name).stdout.strip(),
               pair.dockyard("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()]
        assert ids[0] == ids[1], (name, ids)
        a, b = pair.snapshot("docker", name), pair.snapshot("dockyard", name)
        assert not diff_images(a, b), diff_images(a, b)


def test_commit(pair: Pair) -> None:
    script = "mkdir -p /app && echo data > /app/f && rm /etc/group && chmod 600 /etc/passwd"
    names = _ran(pair, "seq-commit", script)
    try:
        args = ["-a", "Jane <j@example.org>", "-m", "a message", "-c", "ENV MODE=prod",
                "-c", 'CMD ["sh"]', "-c", "EXPOSE 8080"]
        d, y = pair.both(lambda: pair.run_docker("commit", *args, names["docker"], "seq-committed:1"),
                         lambda: pair.run_dockyard("commit", *args, names["dockyard"], "seq-committed:1"))
        assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
        a, b = pair.snapshot("docker", "seq-committed:1"), pair.snapshot("dockyard", "seq-committed:1")
        problems = diff_images(a, b)
        assert not problems, "\n".join(problems)
    finally:
        pair.both(lambda: pair.run_docker("rm", "-f", names["docker"]),
                  lambda: pair.run_dockyard("rm", "-f", names["dockyard"]))


RICH_IMAGE = """FROM busybox
ONBUILD RUN echo hi
SHELL ["/bin/sh", "-xc"]
HEALTHCHECK --interval=5s CMD true
LABEL a=b
ENV P=1
USER 1:1
WORKDIR /tmp
VOLUME /v
EXPOSE 80
STOPSIGNAL SIGINT
ENTRYPOINT ["echo"]
CMD ["x"]
"""


def test_commit_configs(pair: Pair, tmp_path: Path) -> None:
    """A container's config is Docker's merge of the request over the image's (the image's
    ONBUILD and SHELL are not the container's, its env comes after the request's) and keeps
    Hostname, the Attach flags and Image as named; commit writes it as container_config and,
    with the changes, as config (an ENTRYPOINT change drops the command).
    The docker 20.10 CLI sends `-e` values in a random rotation of their order (`-e Q=2 -e P=3`
    arrived as [P=3, Q=2] in about 1 of 12 runs here; POST /containers/create with the same Env
    keeps its order in dockerd, as in dockyard), so the request's variables are compared as a set
    (then the image's, in order), and dockyard's order is checked to be the one given."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(RICH_IMAGE)
    pair.both(lambda: pair.build("docker", ctx, [], "seq-rich:1"),
              lambda: pair.build("dockyard", ctx, [], "seq-rich:1"))
    creates = {"seq-cc-create": ["create", "-e", "Q=2", "-e", "P=3", "-l", "x=y", "--expose", "81",
                                 "seq-rich:1"],
               "seq-cc-cmd": ["create", "-w", "/srv", "-u", "2", "--stop-signal", "SIGHUP",
                              "seq-rich:1", "y", "z"],
               "seq-cc-entry": ["create", "--entrypoint", "ls", "seq-rich:1"]}
    commits = [("seq-cc-create", []), ("seq-cc-create", ["-c", 'ENTRYPOINT ["ls"]']),
               ("seq-cc-cmd", ["-c", "ENV Z=1", "-c", "LABEL x=z", "-c", "VOLUME /w"]),
               ("seq-cc-entry", ["-c", 'CMD ["-l"]'])]
    problems = []
    try:
        for name, args in creates.items():
            d, y = pair.both(lambda: pair.run_docker(*args[:1], "--name", name, *args[1:]),
                             lambda: pair.run_dockyard(*args[:1], "--name", name, *args[1:]))
            assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
            configs = [json.loads(run("inspect", "--format", "{{json .Config}}", name).stdout)
                       for run in (pair.run_docker, pair.run_dockyard)]
            for c in configs:
                c["Hostname"] = "<container>" if len(c["Hostname"]) == 12 else c["Hostname"]
            if name == "seq-cc-create":
                assert configs[1]["Env"][:2] == ["Q=2", "P=3"]
            for c in configs:
                _env_given_as_a_set(c)
            if configs[0] != configs[1]:
                problems.append(f"inspect {name}:\n  docker:   {configs[0]}\n  dockyard: {configs[1]}")
        for i, (name, args) in enumerate(commits):
            tag = f"seq-cc-committed:{i}"
            d, y = pair.both(lambda: pair.run_docker("commit", *args, name, tag),
                             lambda: pair.run_dockyard("commit", *args, name, tag))
            assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
            a, b = pair.snapshot("docker", tag), pair.snapshot("dockyard", tag)
            for snap in (a, b):
                for key in ("config", "container_config"):
                    _env_given_as_a_set(snap.config.get(key) or {})
            problems += [f"commit {' '.join(args)} {name}: {p}" for p in diff_images(a, b)]
    finally:
        for name in creates:
            pair.both(lambda: pair.run_docker("rm", "-f", name), lambda: pair.run_dockyard("rm", "-f", name))
    assert not problems, "\n".join(problems)


def _env_given_as_a_set(config: dict) -> None:
    """test_commit_configs' `-e Q=2 -e P=3` first, sorted (the docker CLI's order of them is
    random), then the rest of Env in its order."""
    env = config.get("Env")
    if env:
        given = [e for e in env if e.partition("=")[0] in ("Q", "P") and e != "P=1"]
        config["Env"] = sorted(given) + [e for e in env if e not in given]


def _export_entries(path: Path) -> list[tuple]:
    return layer_entries(path.read_bytes())


def _ran(pair: Pair, prefix: str, script: str) -> dict[str, str]:
    """A stopped container on each side that ran `script`: {side: name}."""
    names = {}
    for side, run in (("docker", pair.run_docker), ("dockyard", pair.run_dockyard)):
        created = run("run", "--network", "none", "--name", f"{prefix}-{side}", "busybox", "sh", "-c", script)
        assert created.returncode == 0, created.stderr
        names[side] = f"{prefix}-{side}"
    return names


def test_export(pair: Pair, tmp_path: Path) -> None:
    """`export` of a container that ran and of one only created (with a working directory the
    image lacks, which Docker's create makes): the image's files, the container's changes and
    deletions, and Docker's init layer (/.dockerenv, /dev/console, /etc/hostname, /etc/hosts,
    /etc/resolv.conf as empty 0755 files, /etc/mtab a link to /proc/mounts, /dev/pts, /dev/shm,
    /proc, /sys), entry by entry as dockerd 20.10's export has them; `diff` of the created one
    lists the working directory as dockerd's does."""
    names = _ran(pair, "seq-export", "mkdir -p /app && echo data > /app/f && rm /etc/group")
    created = "seq-export-created"
    try:
        d, y = pair.both(lambda: pair.run_docker("create", "--name", created, "-w", "/srv/app", "busybox", "true"),
                         lambda: pair.run_dockyard("create", "--name", created, "-w", "/srv/app", "busybox", "true"))
        assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
        problems = []
        for d_name, y_name in ((names["docker"], names["dockyard"]), (created, created)):
            d_tar, y_tar = tmp_path / f"d-{d_name}.tar", tmp_path / f"y-{y_name}.tar"
            pair.both(lambda: pair.docker("export", "-o", str(d_tar), d_name),
                      lambda: pair.dockyard("export", "-o", str(y_tar), y_name))
            a, b = set(_export_entries(d_tar)), set(_export_entries(y_tar))
            if a != b:
                problems.append(f"export {y_name}: only docker's {sorted(a - b)}, only dockyard's {sorted(b - a)}")
        d, y = pair.both(lambda: pair.run_docker("diff", created), lambda: pair.run_dockyard("diff", created))
        if d.stdout != y.stdout:
            problems.append(f"diff {created}: docker {d.stdout!r}, dockyard {y.stdout!r}")
        assert not problems, "\n".join(problems)
    finally:
        pair.both(lambda: pair.run_docker("rm", "-f", names["docker"], created),
                  lambda: pair.run_dockyard("rm", "-f", names["dockyard"], created))


def test_import(pair: Pair, tmp_path: Path) -> None:
    """The same rootfs tar imported by both, with --change and --message: the same image."""
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        for name, data in (("app/f", b"data\n"), ("bin/tool", b"#!/bin/sh\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    args = ["-c", "ENV A=1", "-c", "WORKDIR /app", "-c", 'CMD ["/bin/tool"]', "-m", "imported",
            str(rootfs), "seq-imported:1"]
    d, y = pair.both(lambda: pair.run_docker("import", *args), lambda: pair.run_dockyard("import", *args))
    assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
    saved_a, saved_b = tmp_path / "ia.tar", tmp_path / "ib.tar"
    pair.docker("save", "-o", str(saved_a), "seq-imported:1")
    pair.dockyard("save", "-o", str(saved_b), "seq-imported:1")
    ia, ib = read_saved(saved_a, 0), read_saved(saved_b, 0)
    ia.config, ib.config = normalise_config(ia.config, ""), normalise_config(ib.config, "")
    problems = diff_images(ia, ib)
    assert not problems, "\n".join(problems)


def test_history_output(pair: Pair, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nLABEL a=b\nCOPY f /f\nRUN echo x > /x\nENV LONG=" + "y" * 80 + "\n")
    (ctx / "f").write_text("f\n")
    for side in ("docker", "dockyard"):
        pair.build(side, ctx, [], "seq-history:1")
    problems = []
    for flags in ([], ["--no-trunc"], ["-H=false"]):
        d, y = pair.both(lambda: pair.run_docker("history", *flags, "seq-history:1"),
                         lambda: pair.run_dockyard("history", *flags, "seq-history:1"))
        cols = []
        for r in (d, y):
            rows = [re.split(r"\s{2,}", line.strip()) for line in r.stdout.splitlines()]
            # IMAGE (time-derived IDs) and CREATED (times) vary; CREATED BY, SIZE, COMMENT stay
            cols.append([row[2:] for row in rows])
        if cols[0] != cols[1]:
            problems.append(f"history {' '.join(flags)}:\n  docker:   {cols[0]}\n  dockyard: {cols[1]}")
    assert not problems, "\n".join(problems)


def test_add_url(pair: Pair, tmp_path: Path) -> None:
    """ADD <url>: the downloaded file (mode 0600, mtime from Last-Modified) and its hash in
    history, which Docker writes without a `file:` prefix, from the file's own stat."""
    import http.server
    import threading

    served = tmp_path / "srv"
    served.mkdir()
    (served / "tool.sh").write_text("#!/bin/sh\necho tool\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        url = f"http://127.0.0.1:{server.server_address[1]}/tool.sh"
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD {url} /opt/\nADD {url} /renamed\n")
        d, y = pair.both(lambda: pair.build("docker", ctx, [], "seq-add-url:1"),
                         lambda: pair.build("dockyard", ctx, [], "seq-add-url:1"))
        assert (d.returncode, d.error) == (y.returncode, y.error)
        assert d.output == y.output
        assert d.image is not None and y.image is not None, d.error
        problems = diff_images(d.image, y.image)
        assert not problems, "\n".join(problems)
    finally:
        server.shutdown()
        server.server_close()


def test_inspect_config_image(pair: Pair, tmp_path: Path) -> None:
    """`image inspect`'s .Config.Image of a built image is its parent's ID (issue 12 item 9), and
    the inspected Config equals Docker's."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nENV A=1\nCMD [\"sh\"]\n")
    for side in ("docker", "dockyard"):
        pair.build(side, ctx, [], "seq-inspect:1")
    got = []
    for run in (pair.run_docker, pair.run_dockyard):
        image, parent, config = run("image", "inspect", "--format",
                                    "{{.Config.Image}}|{{.Parent}}|{{json .Config}}",
                                    "seq-inspect:1").stdout.strip().split("|", 2)
        assert image == parent and image.startswith("sha256:")
        got.append(json.loads(config.replace(parent, "<parent>")))
    assert got[0] == got[1]


def test_rmi_in_use(pair: Pair, tmp_path: Path) -> None:
    """`rmi` of an image a stopped container uses (issue 12 item 4), through the docker CLI and
    through dockyard's: the image's only name is refused and kept (`conflict: unable to remove
    repository reference "NAME" (must force) - container <id> is using its referenced image
    <id>`), a second name is untagged, the ID is refused (`must be forced`); once the container
    is gone the name goes with the image. Each side's own IDs are placeholders."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nLABEL seq=rmi-in-use\n")
    pair.both(lambda: pair.build("docker", ctx, [], "seq-rmi:1"),
              lambda: pair.build("dockyard", ctx, [], "seq-rmi:1"))
    outcomes: dict[str, list[tuple]] = {}

    def scenario(side: str) -> None:
        run = pair.run_docker if side == "docker" else pair.run_dockyard
        image = run("image", "inspect", "-f", "{{.Id}}", "seq-rmi:1").stdout.strip()
        container = run("create", "--name", f"seq-rmi-{side}", "seq-rmi:1", "true").stdout.strip()
        steps = [("rmi", "seq-rmi:1"), ("images", "-q", "seq-rmi"), ("tag", "seq-rmi:1", "seq-rmi:2"),
                 ("rmi", "seq-rmi:2"), ("rmi", image.removeprefix("sha256:")[:12]),
                 ("rm", f"seq-rmi-{side}"), ("rmi", "seq-rmi:1")]
        got = []
        for step in steps:
            r = run(*step)
            text = f"{' '.join(step)}|{r.stdout.strip()}|{normalise_error(r.stderr)}"
            for full, name in ((image.removeprefix("sha256:"), "<image>"), (container, "<container>")):
                text = text.replace(full, name).replace(full[:12], name)
            label, rest = text.replace(side, "<side>").split("|", 1)
            got.append((label, r.returncode, rest))
        outcomes[side] = got

    pair.both(lambda: scenario("docker"), lambda: scenario("dockyard"))
    problems = [f"{d[0]}:\n  docker:   {d[1:]}\n  dockyard: {y[1:]}"
                for d, y in zip(outcomes["docker"], outcomes["dockyard"]) if d != y]
    assert not problems, "\n".join(problems)
    assert "must force" in outcomes["docker"][0][2]


def _outcome(r) -> tuple:  # noqa: ANN001
    return r.returncode, r.stdout, normalise_error(r.stderr)


def test_start_attach(pair: Pair) -> None:
    """`docker start -a/-i` (docker CLI 20.10): the container's stdout and stderr from this start
    on (the second start shows only its own run), its exit status as the command's, no name
    printed; -i feeds stdin to a container created with -i and nothing to one without;
    `-a=false` is a plain start; two containers are refused; a running container is attached to
    (only what it writes after). Each outcome equals dockerd's."""
    import time

    script = "echo out; echo err >&2; exit 3"
    creates = {"seq-start-a": ["busybox", "sh", "-c", script],
               "seq-start-i": ["-i", "busybox", "sh", "-c", "cat; exit 2"],
               "seq-start-noi": ["busybox", "sh", "-c", "cat; echo done"]}
    steps = [(("start", "-a", "seq-start-a"), None), (("start", "-a", "seq-start-a"), None),
             (("start", "-a=false", "seq-start-a"), None),
             (("start", "-a", "seq-start-a", "seq-start-i"), None),
             (("start", "-a", "seq-start-nosuch"), None),
             (("start", "-ai", "seq-start-i"), b"hello\n"),
             (("start", "-i", "seq-start-noi"), b"hello\n")]
    problems = []
    try:
        for name, args in creates.items():
            d, y = pair.both(lambda: pair.run_docker("create", "--network", "none", "--name", name, *args),
                             lambda: pair.run_dockyard("create", "--network", "none", "--name", name, *args))
            assert (d.returncode, y.returncode) == (0, 0), (d.stderr, y.stderr)
        for step, data in steps:
            d, y = pair.both(lambda: pair.run_docker(*step, input=data),
                             lambda: pair.run_dockyard(*step, input=data))
            if _outcome(d) != _outcome(y):
                problems.append(f"{' '.join(step)}:\n  docker:   {_outcome(d)}\n  dockyard: {_outcome(y)}")
        # a running container: start -a attaches to it; what it wrote before is not shown. It
        # writes the rest once /tmp/go exists, made by an exec after the attach has begun
        running = ["run", "-d", "--network", "none", "--name", "seq-start-running", "busybox", "sh", "-c",
                   "echo before; until [ -e /tmp/go ]; do sleep 0.1; done; echo after; echo gone >&2; exit 4"]
        pair.both(lambda: pair.run_docker(*running), lambda: pair.run_dockyard(*running))
        for run in (pair.run_docker, pair.run_dockyard):
            deadline = time.monotonic() + 10
            while "before" not in run("logs", "seq-start-running").stdout and time.monotonic() < deadline:
                time.sleep(0.05)

        def attached(run) -> tuple:  # noqa: ANN001
            with ThreadPoolExecutor(1) as pool:
                started = pool.submit(run, "start", "-a", "seq-start-running")
                time.sleep(3)
                run("exec", "seq-start-running", "touch", "/tmp/go")
                return _outcome(started.result())

        d, y = pair.both(lambda: attached(pair.run_docker), lambda: attached(pair.run_dockyard))
        if d != y:
            problems.append(f"start -a (running):\n  docker:   {d}\n  dockyard: {y}")
        assert d == (4, "after\n", "gone"), d
    finally:
        names = [*creates, "seq-start-running"]
        pair.both(lambda: pair.run_docker("rm", "-f", *names), lambda: pair.run_dockyard("rm", "-f", *names))
    assert not problems, "\n".join(problems)
