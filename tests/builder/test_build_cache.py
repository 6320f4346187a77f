"""The classic builder's cache, rule by rule (moby image/cache): a step hits when an image built
earlier from the same parent has the same container config, which includes the step's command,
its build args and, for COPY/ADD, a checksum of the sources (contents and metadata, not mtimes).
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.store.store import Store


def build(dockyard, ctx: Path, dockerfile: str | None, *args: str):  # noqa: ANN001, ANN201
    if dockerfile is not None:
        (ctx / "Dockerfile").write_text(dockerfile)
    return dockyard("build", *args, str(ctx))


def built_id(result) -> str:  # noqa: ANN001
    line = [l for l in result.stdout.splitlines() if l.startswith("Successfully built ")][0]
    return line.split()[-1]


DOCKERFILE = """\
FROM busybox
ARG V=1
ENV E=1
COPY a.txt /a.txt
COPY d /d
RUN echo "$V" > /v
LABEL x=y
CMD ["sh"]
"""


def _ctx(tmp_path: Path) -> Path:
    (tmp_path / "d").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "d" / "f").write_text("f")
    return tmp_path


def test_second_build_uses_cache_for_every_step(dockyard, busybox, tmp_path: Path) -> None:
    """Docker: an unchanged context and Dockerfile print `Using cache` for each step (after FROM)
    and give the same image ID; the second build runs in a new process (the cache is on disk)."""
    ctx = _ctx(tmp_path)
    first = build(dockyard, ctx, DOCKERFILE)
    second = build(dockyard, ctx, None)
    assert "Using cache" not in first.stdout
    assert second.stdout.count(" ---> Using cache") == 7
    assert "Running in" not in second.stdout
    assert built_id(first) == built_id(second)


def test_changed_file_misses_touched_file_hits(dockyard, busybox, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    first = build(dockyard, ctx, DOCKERFILE)
    os.utime(ctx / "a.txt", (1, 1))  # touched, same content: a hit (mtime is not in the checksum)
    os.utime(ctx / "d" / "f", (1, 1))
    touched = build(dockyard, ctx, None)
    assert touched.stdout.count(" ---> Using cache") == 7
    assert built_id(touched) == built_id(first)
    (ctx / "d" / "f").write_text("g")  # changed content under a directory source: that step misses
    changed = build(dockyard, ctx, None)
    steps = changed.stdout.split("Step ")
    assert "Using cache" in steps[4]  # COPY a.txt still hits
    assert "Using cache" not in steps[5] and "Using cache" not in steps[6]  # COPY d, then RUN
    assert built_id(changed) != built_id(first)
    os.chmod(ctx / "a.txt", 0o600)  # metadata is part of the checksum too
    moded = build(dockyard, ctx, None)
    assert "Using cache" not in moded.stdout.split("Step ")[4]


def test_build_args_and_instruction_text_are_part_of_the_key(dockyard, busybox, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    base = build(dockyard, ctx, DOCKERFILE)
    other_arg = build(dockyard, ctx, None, "--build-arg", "V=2")
    steps = other_arg.stdout.split("Step ")
    # ARG/ENV/COPY do not carry the value: hits; RUN carries `|1 V=2`: a miss, and after it all miss
    assert all("Using cache" in steps[i] for i in (2, 3, 4, 5))
    assert "Using cache" not in steps[6] and "Using cache" not in steps[7]
    again = build(dockyard, ctx, None, "--build-arg", "V=2")
    assert again.stdout.count("Using cache") == 7 and built_id(again) == built_id(other_arg)
    assert built_id(again) != built_id(base)
    changed_env = build(dockyard, ctx, DOCKERFILE.replace("ENV E=1", "ENV E=2"))
    assert "Using cache" not in changed_env.stdout.split("Step ")[3]


def test_run_does_not_look_at_files(dockyard, busybox, tmp_path: Path) -> None:
    """Docker: a RUN step hits on its command alone, whatever the command would read."""
    ctx = _ctx(tmp_path)
    build(dockyard, ctx, "FROM busybox\nRUN date +%s%N > /now\n")
    again = build(dockyard, ctx, None)
    assert again.stdout.count("Using cache") == 1


def test_no_cache_builds_every_step(dockyard, busybox, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    first = build(dockyard, ctx, DOCKERFILE)
    fresh = build(dockyard, ctx, None, "--no-cache")
    assert "Using cache" not in fresh.stdout
    assert fresh.stdout.count("Running in") == 5
    assert built_id(fresh) != built_id(first)  # new images (new created times)
    # and the newest match wins the next time
    latest = build(dockyard, ctx, None)
    assert built_id(latest) == built_id(fresh)


def test_rmi_keeps_what_other_images_need(dockyard, busybox, tmp_path: Path) -> None:
    """Docker: removing a tagged build image deletes its untagged parents unless another image
    still needs them; the other image keeps its cache."""
    ctx = _ctx(tmp_path)
    build(dockyard, ctx, "FROM busybox\nCOPY a.txt /a\nRUN echo one > /1\n", "-t", "one")
    build(dockyard, ctx, "FROM busybox\nCOPY a.txt /a\nRUN echo two > /2\n", "-t", "two")
    store = Store(dockyard.root)
    before = set(store.image_ids())
    removed = dockyard("rmi", "one").stdout
    assert "Untagged: one:latest" in removed
    after = set(Store(dockyard.root).image_ids())
    assert len(before - after) == 1  # only `one` itself: the COPY image is two's parent
    again = build(dockyard, ctx, "FROM busybox\nCOPY a.txt /a\nRUN echo two > /2\n", "-t", "two")
    assert again.stdout.count("Using cache") == 2
    rebuilt = build(dockyard, ctx, "FROM busybox\nCOPY a.txt /a\nRUN echo one > /1\n")
    assert rebuilt.stdout.count("Using cache") == 1  # the shared COPY step is still there


def test_scratch_cache(dockyard, tmp_path: Path) -> None:
    """FROM scratch: candidates are the images without a parent."""
    ctx = _ctx(tmp_path)
    first = build(dockyard, ctx, "FROM scratch\nCOPY a.txt /\nCOPY d /d\n")
    second = build(dockyard, ctx, None)
    assert second.stdout.count("Using cache") == 2 and built_id(first) == built_id(second)


def test_cached_rebuild_keeps_the_names_file_and_sets_the_tag_time(dockyard, busybox, tmp_path: Path) -> None:
    """Docker's reference store does not save when a tag already points at the image (AddTag of
    the same ID is a no-op), while TagImage still sets the image's LastTagTime: a fully cached
    rebuild with `-t` leaves repositories.json untouched and updates the tag time."""
    (tmp_path / "ctx").mkdir()
    ctx = _ctx(tmp_path / "ctx")
    first = build(dockyard, ctx, DOCKERFILE, "-t", "same:v1")
    names = dockyard.root / "repositories.json"
    before = names.stat()
    store = dockyard.store
    image_id = store.resolve("same:v1")
    tagged = store.last_tag_time(image_id)
    second = build(dockyard, ctx, None, "-t", "same:v1", "-t", "other:v2")
    assert built_id(first) == built_id(second)
    after = names.stat()
    assert after.st_ino != before.st_ino  # a new name: the file is replaced (atomically)
    third = build(dockyard, ctx, None, "-t", "same:v1", "-t", "other:v2")
    assert built_id(third) == built_id(first)
    assert names.stat().st_ino == after.st_ino and names.stat().st_mtime_ns == after.st_mtime_ns
    assert store.resolve("other:v2") == image_id == store.resolve("same:v1")
    assert (store.last_tag_time(image_id) or "") > (tagged or "")
