"""BuildKit mode's RUN mounts, RUN --network, the automatic platform ARGs, --target and the
exporters against the reference (dockerd 20.10's BuildKit, `DOCKER_BUILDKIT=1 docker build`):
the same Dockerfile and context built by both, compared on what each RUN prints (modes, owners,
contents a step sees through its mounts), on the image, and on the files an exporter writes.
Each test runs dockyard in process and as a client of `dockyard serve` (`bk_both`).

What dockerd 20.10's built-in frontend lacks (heredocs, COPY --link/--exclude/--parents, ADD
--checksum, secret env=, RUN --network, --no-cache-filter) is tested on dockyard alone in test_features.py.
"""

from __future__ import annotations

import os
import re
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.builder.graph.conftest import BuildKitDockyard, ReferenceBuildKit, write_context
from tests.builder.graph.shape import step_lines, steps
from tests.builder.graph.test_reference import assert_same_image
from tests.conftest import at_once

pytestmark = pytest.mark.usefixtures("busybox")


def _unique() -> str:
    return uuid.uuid4().hex[:12]


def run_output(text: str) -> dict[str, list[str]]:
    """What each step printed (`#N 0.123 line`), by step name, without times."""
    out: dict[str, list[str]] = {}
    for name, rest in step_lines(text):
        printed = re.match(r"^\d+\.\d+ (.*)$", rest)
        if printed:
            out.setdefault(name, []).append(printed.group(1))
    return out


def both_outputs(tmp_path: Path, reference: ReferenceBuildKit, bk: BuildKitDockyard, dockerfile: str,
                 files: dict[str, str | bytes] | None = None, *args: str) -> tuple[dict, dict]:
    ctx = write_context(tmp_path / "ctx", dockerfile, files)
    ref, got = at_once(lambda: reference.build(ctx, *args), lambda: bk.build(ctx, *args))
    return run_output(ref.stderr), run_output(got.stderr)


def test_secret_mounts_match_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """A secret is a file 0400 root:root at /run/secrets/ID, or at `target` with `mode`, `uid`,
    `gid`; an optional secret that was not given is simply absent; after the step no file of it
    stays, only the mount points (as dockerd leaves them); a relative `target` is below WORKDIR
    (dockyard gave runc the relative path: two warnings, and no file)."""
    m = _unique()
    ctx_dir = tmp_path / "ctx"
    dockerfile = f"""\
FROM busybox
RUN --mount=type=secret,id=tok echo {m}; stat -c '%a %u %g %s %F %n' /run/secrets/tok; wc -c < /run/secrets/tok
RUN --mount=type=secret,id=tok,target=/etc/deep/t,mode=0440,uid=1,gid=2 echo {m}; stat -c '%a %u %g %s %n' /etc/deep/t
RUN --mount=type=secret,id=absent echo {m}; ls -a /run/secrets; test -e /run/secrets/absent || echo absent
RUN echo {m}; find /run /etc/deep | sort
WORKDIR /app
RUN --mount=type=secret,id=tok,target=rel/t echo {m}; cat /app/rel/t; echo; cat rel/t; echo
"""
    secret = f"id=tok,src={ctx_dir / 'sec'}"
    ref, got = both_outputs(tmp_path, reference, bk_both, dockerfile, {"sec": "not-so-secret-" + m},
                            "--secret", secret)
    assert got == ref
    assert got[f"[2/7] RUN --mount=type=secret,id=tok echo {m}; stat -c '%a %u %g %s %F %n' /run/secrets/tok; "
               f"wc -c < /run/secrets/tok"][1] == "400 0 0 26 regular file /run/secrets/tok"
    assert got[f"[7/7] RUN --mount=type=secret,id=tok,target=rel/t echo {m}; cat /app/rel/t; echo; cat rel/t; echo"] == [
        m, "not-so-secret-" + m, "not-so-secret-" + m]


def test_cache_mounts_match_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """A cache mount's content survives to the next build (by `id`, else by target); a new
    cache directory is 0755 root, or `mode`/`uid`/`gid`; `from`+`source` starts it from a
    stage's directory; `ro` makes it read-only; nothing of it stays in the image."""
    m = _unique()
    dockerfile = f"""\
FROM busybox AS seed
RUN mkdir -p /seed && echo seeded-{m} > /seed/s

FROM busybox
ARG N
RUN --mount=type=cache,id=c-{m},target=/c echo $N >> /c/runs; cat /c/runs; stat -c '%a %u %g' /c
RUN --mount=type=cache,id=o-{m},target=/c2,uid=7,gid=8,mode=0700 echo $N; stat -c '%a %u %g' /c2
RUN --mount=type=cache,id=f-{m},target=/c3,from=seed,source=/seed echo $N; cat /c3/s
RUN --mount=type=cache,id=r-{m},target=/c4,ro echo $N; (touch /c4/x) 2>&1; ls -a /c4
RUN --mount=type=cache,target=/var/cache/{m} echo $N >> /var/cache/{m}/runs; cat /var/cache/{m}/runs
"""
    ctx = write_context(tmp_path / "ctx", dockerfile)
    tag = "cache-mounts-" + m
    for n in ("1", "2"):
        ref, got = (run_output(b.stderr) for b in at_once(
            lambda: reference.build(ctx, "-t", tag, "--build-arg", f"N={n}"),
            lambda: bk_both.build(ctx, "-t", tag, "--build-arg", f"N={n}")))
        assert got == ref
    runs = [v for k, v in got.items() if "id=c-" in k]
    assert runs == [["1", "2", "755 0 0"]]  # the first build's line is still there
    assert_same_image(reference.shape(tag), bk_both.shape(tag))


def test_bind_and_tmpfs_mounts_match_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """A bind of the context (a path of it), of a stage and of an image; `rw` writes are
    discarded; a read-only bind refuses writes; a tmpfs is empty, writable and gone after the
    step. (RUN --network is not in dockerd 20.10's frontend: test_features.py.)"""
    m = _unique()
    dockerfile = f"""\
FROM busybox AS stage
RUN mkdir /out && echo staged-{m} > /out/f

FROM busybox
RUN --mount=type=bind,source=sub,target=/b echo {m}; stat -c '%a %s %n' /b/r.txt; cat /b/r.txt
RUN --mount=type=bind,from=stage,source=/out,target=/s echo {m}; cat /s/f; (echo x > /s/new) 2>&1 || echo refused
RUN --mount=type=bind,from=busybox,source=/bin,target=/image-bin echo {m}; test -x /image-bin/busybox && echo bin
RUN --mount=type=bind,source=sub,target=/b,rw echo {m}; echo w > /b/new; cat /b/new
RUN --mount=type=tmpfs,target=/t echo {m}; ls -a /t; echo x > /t/a; cat /t/a
RUN echo {m}; ls -a /b /s /t /image-bin
"""
    ref, got = both_outputs(tmp_path, reference, bk_both, dockerfile, {"sub/r.txt": "r\n"})
    assert got == ref
    assert [m, "w"] in got.values()


PLATFORM = """\
FROM busybox AS build
ARG TARGETPLATFORM
ARG TARGETOS
ARG TARGETARCH
ARG TARGETVARIANT
ARG BUILDPLATFORM
ARG BUILDOS
ARG BUILDARCH
ARG BUILDVARIANT
RUN echo {m} "$TARGETPLATFORM $TARGETOS $TARGETARCH v=$TARGETVARIANT $BUILDPLATFORM $BUILDOS $BUILDARCH v=$BUILDVARIANT"

FROM --platform=$BUILDPLATFORM busybox
RUN echo {m} "undeclared: $TARGETARCH$BUILDARCH."
ARG TARGETARCH
RUN echo {m} "declared: $TARGETARCH" > /arch
"""


def test_platform_args_match_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """The automatic platform ARGs have values once declared in a stage, none before; FROM
    --platform=$BUILDPLATFORM; the history lists the declared ones (`RUN |1 TARGETARCH=amd64`)."""
    m = _unique()
    ctx = write_context(tmp_path / "ctx", PLATFORM.format(m=m))
    tag = "platform-" + m
    ref = run_output(reference.build(ctx, "-t", tag, "--target", "build").stderr)
    got = run_output(bk_both.build(ctx, "-t", tag, "--target", "build").stderr)
    assert got == ref
    assert [f"{m} linux/amd64 linux amd64 v= linux/amd64 linux amd64 v="] in got.values()
    ref = run_output(reference.build(ctx, "-t", tag).stderr)
    got = run_output(bk_both.build(ctx, "-t", tag).stderr)
    assert got == ref
    assert_same_image(reference.shape(tag), bk_both.shape(tag))


def test_target_builds_what_it_needs_as_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """`--target` builds the target's stage and the stages it reads, nothing else."""
    m = _unique()
    dockerfile = f"""\
FROM busybox AS unused
RUN echo {m} unused
FROM busybox AS dep
RUN echo {m} dep > /dep
FROM busybox AS target
COPY --from=dep /dep /dep
RUN echo {m} target
FROM target
RUN echo {m} final
"""
    ctx = write_context(tmp_path / "ctx", dockerfile)

    def names(out: str) -> list[str]:
        return sorted(k for k in steps(out) if k.startswith("[") and "FROM" not in k and "internal" not in k)

    ref = names(reference.build(ctx, "--target", "target").stderr)
    got = names(bk_both.build(ctx, "--target", "target").stderr)
    assert got == ref == [f"[dep 2/2] RUN echo {m} dep > /dep", "[target 2/3] COPY --from=dep /dep /dep",
                          f"[target 3/3] RUN echo {m} target"]


def _tree(root: Path) -> list[tuple[str, str, int, int, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            kind = "l" if path.is_symlink() else "d" if path.is_dir() else "f"
            out.append((str(path.relative_to(root)), kind, st.st_mode & 0o7777, st.st_uid,
                        st.st_size if kind == "f" else 0))
    return sorted(out)


def _tar_tree(path: Path) -> list[tuple[str, str, int, int, int]]:
    with tarfile.open(path) as tar:
        return sorted((m.name.strip("/").removeprefix("./"), "l" if m.issym() else "d" if m.isdir() else "f",
                       m.mode & 0o7777, m.uid, m.size if m.isfile() else 0)
                      for m in tar if m.name.strip("/").removeprefix("./") not in ("", "."))


def test_local_and_tar_outputs_match_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """`--output type=local,dest=DIR` writes the final stage's files (names, types, modes,
    owners, sizes) as dockerd's BuildKit does, `type=tar` the same as one tar."""
    m = _unique()
    dockerfile = f"""\
FROM busybox AS build
RUN mkdir -p /out/sub && echo {m} > /out/a && chmod 0751 /out/sub && ln -s a /out/link && chown 5:6 /out/a
FROM scratch
COPY --from=build /out /
COPY f /from-context
"""
    ctx = write_context(tmp_path / "ctx", dockerfile, {"f": "context\n"})
    reference.build(ctx, "--output", f"type=local,dest={tmp_path / 'ref-local'}")
    bk_both.build(ctx, "--output", f"type=local,dest={tmp_path / 'got-local'}")
    assert _tree(tmp_path / "got-local") == _tree(tmp_path / "ref-local")
    assert (tmp_path / "got-local" / "a").read_text() == f"{m}\n"
    reference.build(ctx, "--output", f"type=tar,dest={tmp_path / 'ref.tar'}")
    bk_both.build(ctx, "--output", f"type=tar,dest={tmp_path / 'got.tar'}")
    assert _tar_tree(tmp_path / "got.tar") == _tar_tree(tmp_path / "ref.tar")


def test_a_secret_given_by_id_alone_is_the_file_of_that_name_as_in_dockerd(reference, bk_both, tmp_path: Path) -> None:
    """`--secret id=tok` without `src`: the docker 20.10 CLI reads the file `tok` of its working
    directory; dockyard read only an environment variable `tok` (unset here: 'secret tok not
    found: environment variable tok is not set'). buildx takes the variable when it is set, the
    file otherwise, as dockyard now does."""
    m = _unique()
    ctx = write_context(tmp_path / "ctx", f"FROM busybox\nRUN --mount=type=secret,id=tok,required echo {m}; "
                                          "cat /run/secrets/tok; echo\n")
    (tmp_path / "tok").write_text("from-the-file-" + m)
    args = ("build", "--progress=plain", "--secret", "id=tok", str(ctx))
    ref = reference.daemon(*args[:1], "--network=host", *args[1:], cwd=tmp_path, env={"DOCKER_BUILDKIT": "1"})
    got = bk_both.run(*((("-H", bk_both.host) if bk_both.host else ()) + args), cwd=tmp_path)
    assert run_output(got.stderr) == run_output(ref.stderr)
    assert [m, "from-the-file-" + m] in run_output(got.stderr).values()


def test_a_cache_is_its_id_and_its_settings_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """One `id` with other `uid`/`gid`/`mode` is another cache: dockerd 20.10's BuildKit keys a
    cache mount by its id and its base (`[internal] settings cache mount permissions` makes the
    directory with them), so the uid=7 mount starts empty, 0755 and owned by 7, while the same
    settings again (another target) share the first's files, and a mount without settings is
    a third. dockyard shared the directory by id alone (the uid=7 mount saw `five`, 700 5)."""
    m = _unique()
    step = "RUN --mount=type=cache,id=s-{m},target={t}{opts} echo {m} $N; ls {t}; touch {t}/{name}; stat -c '%a %u' {t}\n"
    dockerfile = "FROM busybox\nARG N\n" + "".join(step.format(m=m, t=t, opts=opts, name=name) for t, opts, name in (
        ("/c", ",uid=5,mode=0700", "five"), ("/c", ",uid=7", "seven"), ("/c", "", "plain"),
        ("/d", ",uid=5,mode=0700", "again")))
    ctx = write_context(tmp_path / "ctx", dockerfile)
    for n in ("1", "2"):
        ref, got = (run_output(b.stderr) for b in at_once(lambda: reference.build(ctx, "--build-arg", f"N={n}"),
                                                           lambda: bk.build(ctx, "--build-arg", f"N={n}")))
        assert got == ref
    seen = list(got.values())
    assert seen[1] == [f"{m} 2", "seven", "755 7"]
    assert seen[3] == [f"{m} 2", "again", "five", "700 5"]


def test_a_cache_from_a_stage_is_keyed_by_that_stage_as_in_dockerd(reference, bk, tmp_path: Path) -> None:
    """`--mount=type=cache,id=x,from=seed,source=/seed`: dockerd 20.10's BuildKit keys the cache
    by its id and its base, the seed stage's result: seed files `a`, then `b` (a new cache,
    seeded with b), then `a` again (the first cache, with what the first two builds left).
    dockyard kept one directory per id, seeded once (the `b` build saw a, n1, n2)."""
    m = _unique()
    ctx = write_context(tmp_path / "ctx", f"""\
FROM busybox AS seed
ARG S
RUN mkdir /seed && echo $S > /seed/s
FROM busybox
ARG N
RUN --mount=type=cache,id=f-{m},target=/c,from=seed,source=/seed echo {m} $N; cat /c/s; ls /c; touch /c/n$N
""")
    seen = []
    for s, n in (("a", "1"), ("a", "2"), ("b", "3"), ("a", "4")):
        args = ("--build-arg", f"S={s}", "--build-arg", f"N={n}")
        ref, got = (run_output(b.stderr) for b in at_once(lambda: reference.build(ctx, *args),
                                                           lambda: bk.build(ctx, *args)))
        assert got == ref
        seen += [lines for name, lines in got.items() if "type=cache" in name]
    assert seen[2:] == [[f"{m} 3", "b", "s"], [f"{m} 4", "a", "n1", "n2", "s"]]
