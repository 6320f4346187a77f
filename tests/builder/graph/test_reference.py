"""BuildKit mode against the reference: the same Dockerfile and context built by dockerd 20.10's
BuildKit (`DOCKER_BUILDKIT=1 docker build`) and by `DOCKER_BUILDKIT=1 dockyard build`, compared on
what BuildKit makes: the image config, every history entry, every file of every new layer
(type, mode, owner, size, content; not mtimes), the RUN environment, what is cached on a rebuild
and after a change, the progress lines and the error messages.

Known, deliberate differences (not compared):
- times and hence image IDs and layer digests (mtimes of new directories differ);
- dockerd 20.10 lets a read-only bind mount of the build context be written, and the write leaks
  into later COPYs of the context (a bug); dockyard's read-only binds are read-only;
- the 20.10 CLI prints each step's LLB digest (`#5 sha256:...`); buildx, whose output dockyard
  prints, does not.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from tests.builder.graph.conftest import BuildKitDockyard, ReferenceBuildKit, write_context
from tests.builder.graph.shape import ImageShape, progress_lines, steps, without_times
from tests.conftest import at_once

pytestmark = pytest.mark.usefixtures("busybox")


def _unique() -> str:
    """A marker that keeps the reference daemon's cache (shared by the session) out of a test."""
    return uuid.uuid4().hex[:12]


def both(tmp_path: Path, reference: ReferenceBuildKit, bk: BuildKitDockyard, dockerfile: str,
         files: dict[str, str | bytes] | None = None, *args: str) -> tuple[ImageShape, ImageShape, str, str]:
    ctx = write_context(tmp_path / "ctx", dockerfile, files)
    tag = "cmp-" + _unique()
    ref, got = at_once(lambda: reference.build(ctx, "-t", tag, *args), lambda: bk.build(ctx, "-t", tag, *args))
    return reference.shape(tag), bk.shape(tag), ref.stderr, got.stderr


def assert_same_image(ref: ImageShape, got: ImageShape, base_layers: int = 1) -> None:
    assert without_times(got.config) == without_times(ref.config)
    assert got.history == ref.history
    assert got.top_keys == ref.top_keys
    assert len(got.layers) == len(ref.layers)
    for i, (r, g) in enumerate(zip(ref.layers[base_layers:], got.layers[base_layers:])):
        assert [str(e) for e in g] == [str(e) for e in r], f"layer {i + base_layers}"


METADATA = """\
FROM busybox
ARG FOO=bar
ARG EMPTY
ENV A=b C="d e" MARK={mark}
LABEL x=y "with space"="v w"
WORKDIR /app
RUN echo hi > /hi
COPY a.txt /app/
COPY --chown=1:2 src/ /deep/dir/
COPY --chown=nobody src/f /owned/
EXPOSE 80 443/udp
USER nobody
WORKDIR /home/nob
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["sh"]
VOLUME /data /d2
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=3 CMD true
ONBUILD RUN echo onbuild
MAINTAINER me
SHELL ["/bin/sh", "-xc"]
WORKDIR /
RUN ["echo", "exec form"]
"""


def test_config_history_and_layers_match_dockerd_buildkit(reference, bk, tmp_path: Path) -> None:
    """BuildKit's image: config only what is set (OnBuild null, ArgsEscaped with CMD), history
    `RUN |2 FOO=bar EMPTY= ... # buildkit`, `COPY a.txt /app/ # buildkit`, metadata without
    #(nop), no entry for ONBUILD, WORKDIR a layer owned by USER, `WORKDIR /` none; --chown by
    name is the user's uid and primary gid; new parents owned by the --chown user."""
    ref, got, _, _ = both(tmp_path, reference, bk, METADATA.format(mark=_unique()),
                          {"a.txt": "hello\n", "src/f": "x\n", "src/g": "y\n"})
    assert_same_image(ref, got)
    assert "container_config" not in got.config and "docker_version" not in got.config
    assert got.config["config"]["OnBuild"] == ["RUN echo onbuild"]


def test_first_run_mount_points_and_stubs_match_dockerd(reference, bk, tmp_path: Path) -> None:
    """On an image without /dev, /proc, /sys the first RUN leaves them; every RUN leaves /etc
    (the /etc/hosts and /etc/resolv.conf mount stubs are removed); mount targets that did not
    exist stay as directories and nothing of the mounts' content stays; a secret mount leaves
    /run/secrets."""
    dockerfile = f"""\
FROM mini
RUN echo {_unique()} > /args
RUN --mount=type=tmpfs,target=/mnt/tmp1 --mount=type=cache,target=/var/cache/x --mount=type=bind,target=/ctx \\
    echo hi > /mnt/tmp1/a; echo c >> /var/cache/x/c; ls /ctx
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null
RUN --mount=type=bind,source=sub,target=/b,rw echo w > /b/new
"""
    ctx_files = {"sub/r.txt": "r\n", "secret.txt": "s3cr3t\n"}
    ctx = write_context(tmp_path / "ctx", dockerfile, ctx_files)
    tag = "mounts-" + _unique()
    secret = f"id=tok,src={ctx / 'secret.txt'}"
    at_once(lambda: reference.build(ctx, "-t", tag, "--secret", secret),
            lambda: bk.build(ctx, "-t", tag, "--secret", secret))
    assert_same_image(reference.shape(tag), bk.shape(tag))


def test_run_environment_matches_dockerd(reference, bk, tmp_path: Path) -> None:
    """RUN's environment is exactly the step's: HOME from /etc/passwd, no HOSTNAME, declared
    ARGs; hostname buildkitsandbox; /etc/hosts; the user and groups of USER."""
    mark = _unique()
    dockerfile = f"""\
FROM busybox
ARG A1
ARG A2=two
RUN echo {mark}; env | sort; hostname; id; cat /etc/hosts
USER nobody
RUN echo {mark}; env | sort; id; pwd
USER daemon:nogroup
RUN echo {mark}; id
"""
    ctx = write_context(tmp_path / "ctx", dockerfile)
    ref, got = at_once(lambda: reference.build(ctx, "--build-arg", "A1=one"),
                       lambda: bk.build(ctx, "--build-arg", "A1=one"))

    def output(text: str) -> list[str]:
        return [line.split(" ", 2)[2] for line in text.splitlines()
                if re.match(r"^#\d+ \d+\.\d+ ", line)]

    assert output(got.stderr) == output(ref.stderr)
    assert "HOSTNAME" not in got.stderr


def test_a_run_sees_the_files_of_the_run_before_as_written_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """The next RUN stands on what the last one wrote as it was written (BuildKit's snapshot of
    the step is the next one's lower; dockyard's is the step's overlay upper dir): mtimes to the
    nanosecond (a layer's tar keeps seconds), deleted files and replaced directories gone, hard
    links linked, many files."""
    mark = _unique()
    dockerfile = f"""\
FROM busybox
RUN echo {mark}; mkdir /data && for i in $(seq 1 300); do echo $i > /data/f$i; done; \\
    ln /data/f1 /data/hard; rm /bin/vi; rm -rf /var && mkdir -p /var/new && touch /var/new/n; \\
    touch -d '2001-02-03 04:05:06' /data/old
RUN echo {mark}; ls /data | wc -l; cat /data/f300; stat -c '%h %n' /data/f1; ls /bin/vi 2>&1; \\
    find /var | sort; stat -c '%y' /data/old; \\
    stat -c '%y' /data/f2 | grep -q '\\.000000000 ' && echo whole-seconds || echo sub-second
"""
    ctx = write_context(tmp_path / "ctx", dockerfile)
    ref, got = at_once(lambda: reference.build(ctx), lambda: bk.build(ctx))

    def output(text: str) -> list[str]:
        return [line.split(" ", 2)[2] for line in text.splitlines()
                if re.match(r"^#\d+ \d+\.\d+ ", line)]

    assert output(got.stderr) == output(ref.stderr)
    assert output(got.stderr)[-1] == "sub-second"


MULTISTAGE = """\
FROM busybox AS base
RUN echo base {mark}

FROM base AS deps
RUN echo deps > /deps && mkdir /tree && touch /tree/f && chown -R 5:6 /deps /tree

FROM base AS assets
RUN echo assets > /assets

FROM busybox
COPY --from=deps /deps /p
COPY --from=assets --chmod=0755 /assets /assets
COPY --from=1 --chmod=0600 /deps /deps-by-index
COPY --from=deps /tree /tree
"""


def test_multistage_copy_from_chmod_and_progress_names_match_dockerd(reference, bk, tmp_path: Path) -> None:
    """Stage names in progress (`[deps 1/1]`, `[stage-3 2/5]`), COPY --from a stage (by name or
    index) with --chmod, the final image's layers."""
    ref, got, ref_out, got_out = both(tmp_path, reference, bk, MULTISTAGE.format(mark=_unique()))
    assert_same_image(ref, got)

    def names(out: str) -> list[str]:
        # dockerd names the base image's vertex (shared by two stages) after either stage
        return sorted(set(l for l in progress_lines(out)
                          if l.startswith("# [") and "internal" not in l and "FROM" not in l))

    assert names(got_out) == names(ref_out)
    assert "# [base 1/2] FROM docker.io/library/busybox" in progress_lines(got_out)


def test_progress_plain_matches_dockerd(reference, bk, tmp_path: Path) -> None:
    """`--progress=plain`: the same steps, names, RUN output lines, DONE, CACHED on a rebuild,
    `exporting to image` with `writing image` and `naming to` (buildx's lines; the 20.10 CLI's
    digest lines left out)."""
    mark = _unique()
    dockerfile = f"FROM busybox\nRUN echo {mark}\nCOPY f /f\n"
    ctx = write_context(tmp_path / "ctx", dockerfile, {"f": mark})
    tag = "prog-" + mark
    for _ in range(2):  # cold, then fully cached
        ref, got = (progress_lines(r.stderr) for r in at_once(lambda: reference.build(ctx, "-t", tag),
                                                               lambda: bk.build(ctx, "-t", tag)))
        ref = [re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", l) for l in ref]
        got = [re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", l) for l in got]
        # the base image: dockerd has seen it in earlier tests (CACHED), a fresh store unpacks it
        ref = [l for l in ref if "FROM docker.io" not in l]
        got = [l for l in got if "FROM docker.io" not in l]
        assert _blocks(got) == _blocks(ref)


def _unfinished_status(line: str) -> bool:
    words = line[2:]
    return (line.startswith("# ") and not words.startswith(("[", "DONE", "CACHED", "ERROR", "exporting to"))
            and not words.endswith(" done"))


def _blocks(lines: list[str]) -> list[tuple[str, ...]]:
    """Progress as its blocks (a step's lines), in a stable order: dockerd's internal steps may
    start in either order."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line == "":
            blocks.append([])
        elif _unfinished_status(line):
            continue  # dockerd shows a status before it is done when it takes a refresh tick
        else:
            blocks[-1].append(line)
    # a step's lines may come in two blocks (its header printed again when a status of its came
    # after another step's lines: dockerd's under load): one block per step, its end last
    merged: dict[str, list[str]] = {}
    for b in blocks:
        if b:
            lines_of = merged.setdefault(b[0], [])
            lines_of += [line for line in b[1:] if line not in lines_of]
    ends = ("# DONE", "# CACHED")
    out = [(head, *[l for l in rest if l not in ends], *[l for l in rest if l in ends])
           for head, rest in merged.items()]
    # the base image's lines were removed above: its DONE/CACHED line stays orphaned
    return sorted(b for b in out if b[0].startswith("# [") or b[0].startswith("# exporting"))


def test_cache_after_changes_matches_dockerd(reference, bk, tmp_path: Path) -> None:
    """Which steps are CACHED: all on a rebuild (same image ID); after `touch` and `chown` of a
    context file all; after `chmod` the COPY of that file and what follows; a copy of the
    context at another path with other mtimes all."""
    mark = _unique()
    dockerfile = f"FROM busybox\nWORKDIR /app\nRUN echo {mark} > /m\nCOPY a.txt /app/\nCOPY src/ /deep/\nRUN ls /app\n"
    ctx = write_context(tmp_path / "ctx", dockerfile, {"a.txt": "a\n", "src/f": "f\n"})

    def cached(out: str) -> list[str]:
        lines = progress_lines(out)
        names = {}
        for i, line in enumerate(lines):
            if line.startswith("# [") or line.startswith("# FROM"):
                names[i] = line[2:]
        out_names = []
        current = None
        for i, line in enumerate(lines):
            if i in names:
                current = names[i]
            elif line == "# CACHED" and current:
                out_names.append(current)
        return sorted(n for n in out_names if "FROM" not in n)

    def round_(path: Path) -> tuple[list[str], list[str], ImageShape, ImageShape]:
        tag = "cache-" + mark
        r, g = (b.stderr for b in at_once(lambda: reference.build(path, "-t", tag), lambda: bk.build(path, "-t", tag)))
        return cached(r), cached(g), reference.shape(tag), bk.shape(tag)

    round_(ctx)
    r, g, ref1, got1 = round_(ctx)
    assert g == r and len(g) == 5
    os.utime(ctx / "a.txt", (1, 1))
    os.chown(ctx / "a.txt", 5, 5)
    r, g, _, got3 = round_(ctx)
    assert g == r and len(g) == 5
    assert got3.image_id == got1.image_id  # a cached rebuild makes the same image
    os.chmod(ctx / "a.txt", 0o600)
    r, g, _, _ = round_(ctx)
    assert g == r == ["[2/6] WORKDIR /app", "[3/6] RUN echo " + mark + " > /m"]
    os.chmod(ctx / "a.txt", 0o644)
    moved = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(ctx, moved)
    for path in moved.rglob("*"):
        os.utime(path, (1000, 1000))
    r, g, _, got4 = round_(moved)
    assert g == r and len(g) == 5
    assert got4.image_id == got1.image_id


def test_arg_reaches_only_later_runs_matches_dockerd(reference, bk, tmp_path: Path) -> None:
    """Changing a build arg re-runs the RUNs after its ARG and keeps those before it cached."""
    mark = _unique()
    dockerfile = f"FROM busybox\nRUN echo {mark} one\nARG V\nRUN echo {mark} two $V\nRUN echo {mark} three\n"
    ctx = write_context(tmp_path / "ctx", dockerfile)
    for value in ("a", "b"):
        ref, got = (steps(b.stderr) for b in at_once(lambda: reference.build(ctx, "--build-arg", f"V={value}"),
                                                      lambda: bk.build(ctx, "--build-arg", f"V={value}")))
    ref = {k: v for k, v in ref.items() if k.startswith("[")}
    got = {k: v for k, v in got.items() if k.startswith("[")}
    assert got == ref
    assert got[f"[2/4] RUN echo {mark} one"] == "CACHED"
    assert got[f"[3/4] RUN echo {mark} two b"] == "DONE"
    assert got[f"[4/4] RUN echo {mark} three"] == "DONE"


COPY_FROM_CONTENT = """\
FROM busybox AS src
ARG V
ARG C=same
ARG M=644
ARG O=0
RUN echo {mark} $V > /other && mkdir /out && echo $C > /out/f && chmod $M /out/f && chown $O /out/f \\
    && touch -d @$((1000+${{#V}})) /out/f
FROM busybox
RUN echo {mark} base
COPY --from=src /out /out
RUN cat /out/f > /g
"""


def test_copy_from_is_keyed_by_the_content_it_copies_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """COPY --from=<stage> is cached by the content of what it copies, not by the stage's key:
    the stage runs again (another build arg) and makes the same /out/f (another mtime, and
    another file outside /out): the COPY and the RUN after it stay CACHED, and the image is
    dockerd's; another content or mode of /out/f runs them again.
    Deliberate difference: dockerd 20.10's BuildKit keeps the COPY cached when only the owner
    of a copied file changed, and its image then has the old owner (0 where the stage made 5);
    dockyard keys owners too (COPY --from keeps them), so its COPY runs and has owner 5."""
    mark = _unique()
    ctx = write_context(tmp_path / "ctx", COPY_FROM_CONTENT.format(mark=mark))
    tag = "content-" + mark
    copy, after = "[stage-1 3/4] COPY --from=src /out /out", "[stage-1 4/4] RUN cat /out/f > /g"

    def round_(*args: str) -> tuple[dict[str, str], dict[str, str]]:
        build_args = [a for arg in args for a in ("--build-arg", arg)]
        ref, got = (steps(b.stderr) for b in at_once(lambda: reference.build(ctx, "-t", tag, *build_args),
                                                      lambda: bk.build(ctx, "-t", tag, *build_args)))
        keep = lambda d: {k: v for k, v in d.items() if k.startswith("[") and "FROM" not in k}  # noqa: E731
        return keep(ref), keep(got)

    round_("V=a")
    ref, got = round_("V=bb")                       # the same /out/f, another mtime
    assert got == ref
    assert (got[copy], got[after]) == ("CACHED", "CACHED")
    assert [v for k, v in got.items() if k.startswith("[src")] == ["DONE"]
    assert_same_image(reference.shape(tag), bk.shape(tag))
    ref, got = round_("V=ccc", "C=x")               # another content
    assert got == ref and (got[copy], got[after]) == ("DONE", "DONE")
    ref, got = round_("V=dddd", "C=x", "M=600")     # another mode
    assert got == ref and (got[copy], got[after]) == ("DONE", "DONE")
    ref, got = round_("V=eeeee", "C=x", "M=600")    # the same again: cached
    assert got == ref and (got[copy], got[after]) == ("CACHED", "CACHED")
    ref, got = round_("V=ffffff", "C=x", "M=600", "O=5")   # another owner only
    assert (ref[copy], ref[after]) == ("CACHED", "CACHED")
    assert (got[copy], got[after]) == ("DONE", "DONE")
    assert reference.shape(tag).files()["out/f"].uid == 0      # dockerd's stale owner
    assert bk.shape(tag).files()["out/f"].uid == 5
    ref, got = round_("V=ggggggg", "C=x", "M=600", "O=5")  # the same again: cached on both
    assert got == ref and (got[copy], got[after]) == ("CACHED", "CACHED")


BIND_FROM_CONTENT = """\
FROM busybox AS src
ARG V
ARG C=same
RUN echo {mark} $V > /other && mkdir /out && echo $C > /out/f
FROM busybox
RUN --mount=type=bind,from=src,source=/out,target=/m cat /m/f > /g
RUN --mount=type=bind,from=src,source=/out,target=/w,rw cat /w/f > /h
RUN echo {mark} after
"""


def test_run_bind_mount_of_a_stage_is_keyed_by_its_content_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """A RUN with a bind mount of a stage, read-only or writable (its writes are discarded), is
    cached by the content of what it mounts (BuildKit's content checksum of the mount's
    selector), not by the stage's key: the stage runs again to the same /out: both RUNs and
    the step after them stay CACHED, as on dockerd; another /out/f runs them again."""
    mark = _unique()
    ctx = write_context(tmp_path / "ctx", BIND_FROM_CONTENT.format(mark=mark))
    ro = "[stage-1 2/4] RUN --mount=type=bind,from=src,source=/out,target=/m cat /m/f > /g"

    def round_(*args: str) -> tuple[dict[str, str], dict[str, str]]:
        build_args = [a for arg in args for a in ("--build-arg", arg)]
        ref, got = (steps(b.stderr) for b in at_once(lambda: reference.build(ctx, *build_args),
                                                      lambda: bk.build(ctx, *build_args)))
        keep = lambda d: {k: v for k, v in d.items() if k.startswith("[") and "FROM" not in k}  # noqa: E731
        return keep(ref), keep(got)

    round_("V=a")
    ref, got = round_("V=b")
    assert got == ref and got[ro] == "CACHED"
    assert [v for k, v in got.items() if k.startswith("[stage-1")] == ["CACHED"] * 3
    ref, got = round_("V=c", "C=x")
    assert got == ref and got[ro] == "DONE"


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nRUN echo {m}; exit 3\n", "executor failed running [/bin/sh -c echo {m}; exit 3]: exit code: 3"),
    ("FROM busybox\nRUN --mount=type=secret,id={m},required echo hi\n", "secret {m} not found: not found"),
    ("FROM busybox\nUSER u{m}\nRUN true\n",
     "executor failed running [/bin/sh -c true]: unable to find user u{m}: no matching entries in passwd file"),
    ("FROM busybox\nCOPY {m} /x\n", 'failed to compute cache key: "/{m}" not found: not found'),
    ("FROM busybox AS a\nRUN true\nFROM busybox\nCOPY --from=a /{m} /x\n",
     'failed to compute cache key: "/{m}" not found: not found'),
    ("FROM busybox\nRUN --mount=type=bind,source={m},target=/z true\n",
     'failed to compute cache key: "/{m}" not found: not found'),
    ("FROM busybox\nFOO {m}\n",
     "failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
     "dockerfile parse error line 2: unknown instruction: FOO"),
])
def test_errors_are_worded_as_dockerd_buildkit(reference, bk, tmp_path: Path, dockerfile: str, message: str) -> None:
    m = _unique()
    ctx = write_context(tmp_path / "ctx", dockerfile.format(m=m))
    ref, got = at_once(lambda: reference.build(ctx, check=False), lambda: bk.build(ctx, check=False))
    assert ref.returncode == got.returncode == 1
    assert ref.stderr.rstrip("\n").splitlines()[-1] == message.format(m=m)
    assert got.stderr.rstrip("\n").splitlines()[-1].removeprefix("Error: ") == message.format(m=m)


def test_wildcard_matching_nothing_is_no_error_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    ref, got, _, _ = both(tmp_path, reference, bk, f"FROM busybox\nADD missing* /x/\nRUN echo {_unique()}\n")
    assert_same_image(ref, got)


@pytest.mark.parametrize("mode", ["999", "u+x", "17777"])
def test_a_chmod_dockerd_ignores_is_refused(reference, bk, tmp_path: Path, mode: str) -> None:
    """`COPY --chmod=999` and `--chmod=u+x` (not octal): dockerd 20.10's BuildKit ignores the flag
    (the file keeps 644); `--chmod=17777` makes 0777 (the bits above 7777 dropped, sticky too).
    A silently ignored option: dockyard refuses it, one line naming the line and the value."""
    ctx = write_context(tmp_path / "ctx", f"FROM busybox\nCOPY --chmod={mode} f /f\nRUN echo {_unique()}\n",
                        {"f": "f\n"})
    tag = "chmod-" + _unique()
    ref, got = at_once(lambda: reference.build(ctx, "-t", tag), lambda: bk.build(ctx, "-t", tag, check=False))
    assert reference.shape(tag).files()["f"].mode == (0o777 if mode == "17777" else 0o644)
    assert got.returncode == 1
    assert got.stderr.splitlines()[-1] == (
        "Error: failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
        f"dockerfile parse error line 2: invalid --chmod={mode}: want an octal mode, 0 to 7777")


def _linked_context(ctx: Path) -> None:
    (ctx / "dir").mkdir(parents=True)
    (ctx / "dir" / "a").write_text("a\n")
    os.link(ctx / "dir" / "a", ctx / "dir" / "hard")
    os.symlink("a", ctx / "dir" / "sym")


def test_hard_links_are_kept_within_a_source_not_across_sources_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """`COPY dir /d1` keeps dir/hard a hard link of dir/a; `COPY dir/* /d7/` and `COPY dir/a
    dir/hard /d9/` copy each match or argument on its own: two files (and the symlink matched
    by the wildcard is followed: a file too), in dockerd 20.10's BuildKit and its classic builder
    alike. dockyard linked every later name of the inode to the first, across sources."""
    dockerfile = f"FROM busybox\nRUN echo {_unique()}\nCOPY dir /d1\nCOPY dir/* /d7/\nCOPY dir/a dir/hard /d9/\n"
    ctx = write_context(tmp_path / "ctx", dockerfile)
    _linked_context(ctx)
    tag = "links-" + _unique()
    at_once(lambda: reference.build(ctx, "-t", tag), lambda: bk.build(ctx, "-t", tag))
    ref, got = reference.shape(tag), bk.shape(tag)
    assert_same_image(ref, got)
    kinds = {e.name: e.type for e in got.files().values()}
    assert (kinds["d1/hard"], kinds["d7/hard"], kinds["d7/sym"], kinds["d9/hard"]) == ("link", "file", "file", "file")
    classic = "classic-" + tag
    reference.daemon("build", "-q", "-t", classic, str(ctx))
    bk.run("build", "-q", "-t", classic, str(ctx), env={"DOCKER_BUILDKIT": "0"})
    reference.tags.add(classic)
    ref, got = reference.shape(classic), bk.shape(classic)
    for i, (r, g) in enumerate(zip(ref.layers[2:], got.layers[2:])):
        assert [str(e) for e in g] == [str(e) for e in r], f"classic layer {i + 2}"


def test_a_wildcard_match_that_leads_nowhere_is_missing_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """`COPY dir/* /d/` where dir/gone is a symlink to /nonexist: both of dockerd 20.10's builders
    refuse it (the match is followed, and nothing is there); dockyard copied the symlink."""
    ctx = write_context(tmp_path / "ctx", f"FROM busybox\nRUN echo {_unique()}\nCOPY dir/* /d/\n")
    _linked_context(ctx)
    os.symlink("/nonexist", ctx / "dir" / "gone")
    ref, got = at_once(lambda: reference.build(ctx, check=False), lambda: bk.build(ctx, check=False))
    assert ref.returncode == got.returncode == 1
    assert ref.stderr.splitlines()[-1] == 'failed to compute cache key: "/nonexist" not found: not found'
    assert got.stderr.splitlines()[-1] == ref.stderr.splitlines()[-1]
    ref = reference.daemon("build", str(ctx), check=False)
    got = bk.run("build", str(ctx), check=False, env={"DOCKER_BUILDKIT": "0"})
    assert ref.returncode == got.returncode == 1
    assert ref.stderr.splitlines()[-1] == ("COPY failed: file not found in build context or excluded by "
                                           ".dockerignore: stat dir/gone: file does not exist")
    assert got.stderr.splitlines()[-1] == "Error: " + ref.stderr.splitlines()[-1]


FRONTEND_ERRORS = [
    "",                                            # the file's
    "RUN true\n",
    "# escape=x\nFROM busybox\n",                  # the parser's
    "FROM busybox\nENV A\n",
    "FROM busybox\nLABEL a=1 b\n",
    'FROM busybox\nCMD ["a", 1]\n',
    "FROM ${X}\n",                                 # found while converting
    "FROM busybox\nENV A=${B:?must}\n",
    "FROM busybox\nEXPOSE 99999\n",
    "FROM busybox\nSTOPSIGNAL FOO\n",
    'FROM busybox\nVOLUME [""]\n',                 # an instruction's own: with its line
    "FROM busybox\nENV =x\n",
    "FROM busybox\nONBUILD FROM x\n",
    "FROM busybox\nRUN --bogus true\n",
]


def test_frontend_errors_name_a_line_where_dockerd_buildkit_does(reference, bk, tmp_path: Path) -> None:
    """dockerd 20.10's frontend names the line (`dockerfile parse error line 2: ...`) only for
    an instruction's own error; the parser's (`ENV must have two arguments`), the file's (`the
    Dockerfile cannot be empty`, `no build stage in current context`) and those found while the
    stages are converted (`Invalid signal: FOO`, a failed expansion) are the message alone.
    dockyard prefixed every one with a line (and named the file: `the Dockerfile (Dockerfile)
    cannot be empty`)."""
    for i, dockerfile in enumerate(FRONTEND_ERRORS):
        ctx = write_context(tmp_path / f"ctx{i}", dockerfile)
        ref, got = at_once(lambda: reference.build(ctx, check=False), lambda: bk.build(ctx, check=False))
        assert ref.returncode == got.returncode == 1, dockerfile
        assert got.stderr.splitlines()[-1].removeprefix("Error: ") == ref.stderr.splitlines()[-1], dockerfile
