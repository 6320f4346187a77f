"""BuildKit mode's pieces without containers: cache keys, the graph's walk order, history times,
the image config's bytes, the plain progress printer, and the flag parsers."""

from __future__ import annotations

import io
import json

import pytest

from dockyard.builder.graph.options import parse_output, parse_outputs
from dockyard.builder.graph.image import config_json, go_time, normalize_history
from dockyard.builder.graph.ops import CopyOp, CopySource, ExecOp, ImageOp, MkdirOp, Vertex, cache_key
from dockyard.builder.graph.progress import (
    LogInfo, PlainDisplay, SolveStatus, StatusInfo, VertexInfo, dockerfile_excerpt,
)
from dockyard.builder.graph.session import parse_secret, parse_ssh
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter

D1 = Digest("sha256", "1" * 64)
D2 = Digest("sha256", "2" * 64)


def _image(image_id: Digest) -> Vertex:
    return Vertex(ImageOp("busybox", image_id, D1, (D1,)), name="FROM busybox")


def test_image_inputs_are_keyed_by_their_layers_not_their_id() -> None:
    a, b = _image(D1), _image(D2)
    assert cache_key(a, [], []) == cache_key(b, [], [])
    assert a.digest != b.digest or True  # vertices may differ; their keys do not


def test_keys_change_with_the_operation_the_inputs_and_the_content() -> None:
    run = Vertex(ExecOp(("/bin/sh", "-c", "make"), ("PATH=/bin",)), (None,))
    base = cache_key(run, [D1], [])
    assert cache_key(run, [D2], []) != base
    assert cache_key(run, [D1], ["file:abc"]) != base
    other = Vertex(ExecOp(("/bin/sh", "-c", "make"), ("PATH=/bin", "A=1")), (None,))
    assert cache_key(other, [D1], []) != base
    proxied = Vertex(ExecOp(("/bin/sh", "-c", "make"), ("PATH=/bin",), proxy_env=("HTTP_PROXY=x",)), (None,))
    assert cache_key(proxied, [D1], []) == base  # proxies are not part of the key
    assert base.algorithm == "sha256" and len(base.hex) == 64


def test_walk_numbers_inputs_before_their_readers_depth_first() -> None:
    img = _image(D1)
    ctx = Vertex(CopyOp((), "/"), name="ctx")  # a stand-in source
    wd = Vertex(MkdirOp("/app"), (img,), "wd")
    copy = Vertex(CopyOp((CopySource(1, "a"),), "/app/"), (wd, ctx), "copy")
    top = Vertex(MkdirOp("/x"), (copy,), "top")
    assert [v.name for v in top.walk()] == ["FROM busybox", "wd", "ctx", "copy", "top"]


def test_history_times_as_buildkit_fills_them() -> None:
    """Layers get their own time; an entry without a layer the time of the layer before it, or,
    before the first new layer, of that first new layer (dockerd 20.10's exporter)."""
    history = [
        {"created": "base", "comment": "Imported from -"},
        {"created_by": "ARG A", "empty_layer": True},
        {"created_by": "RUN x"},
        {"created_by": "ENV B=c", "empty_layer": True},
        {"created_by": "RUN y"},
        {"created_by": "CMD []", "empty_layer": True},
    ]
    out = normalize_history(history, [None, "t1", "t2"])
    assert [h["created"] for h in out] == ["base", "t1", "t1", "t1", "t2", "t2"]
    only_metadata = normalize_history(history[:2], [None])
    assert [h["created"] for h in only_metadata] == ["base", "base"]


def test_config_bytes_have_buildkits_shape() -> None:
    image = {"architecture": "amd64", "os": "linux", "author": "me",
             "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "User": "u", "ArgsEscaped": True,
                        "Labels": {"b": "1", "a": "<&>"}}}
    raw = config_json(image, [D1], [{"created": "2020-01-01T00:00:00Z", "created_by": "x", "comment": "c"}])
    data = json.loads(raw)
    assert list(data) == ["architecture", "author", "config", "created", "history", "os", "rootfs"]
    assert list(data["config"]) == ["User", "Env", "Cmd", "Labels", "ArgsEscaped", "OnBuild"]
    assert data["config"]["OnBuild"] is None and list(data["config"]["Labels"]) == ["a", "b"]
    assert b"\\u003c\\u0026\\u003e" in raw  # Go's escaping
    assert data["created"] == "2020-01-01T00:00:00Z"


def test_go_time_trims_trailing_zeros() -> None:
    assert go_time(1_600_000_000_123_400_000) == "2020-09-13T12:26:40.1234Z"
    assert go_time(1_600_000_000_000_000_000) == "2020-09-13T12:26:40Z"


def _vertex(d: str, name: str, started: float | None = None, completed: float | None = None,
            cached: bool = False, error: str = "") -> SolveStatus:
    return SolveStatus(vertexes=[VertexInfo(d, name, [], started, completed, cached, error)])


def test_plain_printer_blocks_interruptions_and_endings() -> None:
    out = io.StringIO()
    p = PlainDisplay(out)
    p.update(_vertex("a", "[1/3] FROM x"))  # announced: nothing printed
    p.update(_vertex("b", "[2/3] RUN long", 10.0))
    p.update(SolveStatus(logs=[LogInfo("b", 1, b"partial", 10.5)]))
    p.update(_vertex("c", "[internal] load build context", 11.0))
    p.update(SolveStatus(statuses=[StatusInfo("transferring context: 40B", "c", 0, 0, 11.0, 11.0, 11.0)]))
    p.update(_vertex("c", "[internal] load build context", 11.0, 11.0))
    p.update(SolveStatus(logs=[LogInfo("b", 1, b" line\nnext\n", 12.25)]))
    p.update(_vertex("b", "[2/3] RUN long", 10.0, 13.0))
    p.update(_vertex("d", "[3/3] COPY a /a", 13.0, 13.0, cached=True))
    p.update(_vertex("e", "[3/3] RUN bad", 14.0, 14.5, error="exit code: 1"))
    assert out.getvalue().splitlines() == [
        "#2 [2/3] RUN long",
        "#2 0.500 partial",
        "#2 ...",
        "",
        "#3 [internal] load build context",
        "#3 transferring context: 40B done",
        "#3 DONE 0.0s",
        "",
        "#2 [2/3] RUN long",
        "#2 2.250  line",
        "#2 2.250 next",
        "#2 DONE 3.0s",
        "",
        "#4 [3/3] COPY a /a",
        "#4 CACHED",
        "",
        "#5 [3/3] RUN bad",
        "#5 ERROR: exit code: 1",
    ]


def test_dockerfile_excerpt_as_buildx_prints_it() -> None:
    text = "FROM busybox\nRUN one\nRUN two \\\n  more\nRUN three\n"
    assert dockerfile_excerpt(text, "Dockerfile", 3, 4) == [
        "Dockerfile:3-4", "-" * 20,
        "   1 |     FROM busybox", "   2 |     RUN one", "   3 | >>> RUN two \\", "   4 | >>>   more",
        "   5 |     RUN three", "-" * 20]


def test_secret_and_ssh_specs() -> None:
    assert parse_secret("id=a,src=/f").path == "/f"
    assert parse_secret("id=a,source=/f,type=file").path == "/f"
    assert parse_secret("id=a,env=VAR").env == "VAR"
    assert parse_secret("type=env,id=VAR").env == "VAR"
    assert parse_secret("src=/run/x/token").id == "token"
    with pytest.raises(InvalidParameter):
        parse_secret("id=a,bogus=1")
    with pytest.raises(InvalidParameter):
        parse_secret("justtext")
    assert parse_ssh("default=/tmp/s,/tmp/k").paths == ("/tmp/s", "/tmp/k")


def test_output_specs() -> None:
    assert parse_outputs([]).stores_image
    assert parse_output("type=local,dest=out").dest == "out"
    assert parse_output("out").type == "local"
    assert parse_output("-") .type == "tar"
    assert not parse_output("type=docker,dest=x.tar").stores_image
    for bad in ("type=nope,dest=x", "type=local", "type=tar,dest=x,compression=gzip"):
        with pytest.raises(InvalidParameter):
            parse_output(bad)
    with pytest.raises(InvalidParameter):
        parse_outputs(["a", "b"])


def test_status_times_are_what_datetime_makes_of_them() -> None:
    """progress.py writes and reads RFC 3339 times without datetime (a client loads it at every
    start): the same strings as datetime's, microseconds rounded half to even, and back."""
    import random
    from datetime import datetime, timezone

    from dockyard.builder.graph.progress import _parse_ts, _ts

    rng = random.Random(7)
    values = [0.0, 1.5, 1.0000005, 1.9999995, 1.9999996, 951782400.0, 4102444800.25, 1600000000.1234565]
    values += [rng.uniform(0, 4e9) for _ in range(20000)]
    for value in values:
        dt = datetime.fromtimestamp(value, timezone.utc)
        text = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"
        assert _ts(value) == text
        assert _parse_ts(text) == dt.replace(microsecond=0).timestamp() + float(f"0.{dt.microsecond:06d}000")
    assert _parse_ts("2020-02-29T12:00:00Z") == datetime(2020, 2, 29, 12, tzinfo=timezone.utc).timestamp()
    with pytest.raises(ValueError):
        _parse_ts("2020-02-29 12:00:00Z")


def test_a_layer_a_later_step_reads_is_unpacked_ahead_and_no_other(store, busybox, tmp_path) -> None:
    """The solver unpacks a step's layer while that step finishes when a later step that runs
    reads it as a tree (here COPY --from a stage), and waits for that before the build returns;
    the final step's layer, which nothing reads, is not unpacked."""
    import threading

    from dockyard.engine.build import build_image_buildkit
    from dockyard.engine.buildkit import GraphOptions, Progress, make_display

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("f\n")
    (ctx / "Dockerfile").write_text("FROM busybox AS a\nCOPY f /f\nFROM busybox\nCOPY --from=a /f /g\n")
    result = build_image_buildkit(store, str(ctx), GraphOptions(), Progress(make_display("quiet")))
    first, last = [r.layer for r in result.all_records]
    assert first is not None and last is not None

    def unpacked(diff_id: Digest) -> bool:
        return (store.layers.dir(diff_id) / "diff").is_dir()

    assert unpacked(first) and not unpacked(last)
    assert not [t for t in threading.enumerate() if t.name.startswith("unpack-")]


def test_a_fully_cached_build_runs_in_one_thread(store, busybox, tmp_path, monkeypatch) -> None:
    """When every step hits the local cache the solver composes the results in order itself (no
    thread per vertex): the same image as the threaded path; a build where a step runs still
    starts its vertices' threads."""
    import threading

    from dockyard.engine.build import build_image_buildkit
    from dockyard.engine.buildkit import GraphOptions, Progress, make_display

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("f\n")
    (ctx / "Dockerfile").write_text("FROM busybox AS a\nCOPY f /f\nENV A=1\nFROM busybox\nCOPY --from=a /f /g\n"
                                    "WORKDIR /w\n")

    def build() -> tuple[object, list[str]]:
        started: list[str] = []
        start = threading.Thread.start
        monkeypatch.setattr(threading.Thread, "start", lambda t: (started.append(t.name), start(t))[1])
        result = build_image_buildkit(store, str(ctx), GraphOptions(), Progress(make_display("quiet")))
        monkeypatch.undo()
        return result, started

    first, threads = build()
    assert any(n.startswith("vertex-") for n in threads)
    again, threads = build()
    assert not [n for n in threads if n.startswith("vertex-")]
    assert again.image_id == first.image_id
    assert [r.key for r in again.all_records] == [r.key for r in first.all_records]
    (ctx / "f").write_text("g\n")
    changed, threads = build()
    assert changed.image_id != first.image_id and any(n.startswith("vertex-") for n in threads)


def test_copy_parents_stages_its_tree_in_the_store(store, busybox, tmp_path, monkeypatch) -> None:
    """COPY --parents stages its sources in the store's temporary folder (the same file system
    as the layers; the collector removes what a crash leaves there), never in the system's: the
    build works with no usable system temporary directory, and leaves nothing staged."""
    import tempfile

    from dockyard.engine.build import build_image_buildkit
    from dockyard.engine.buildkit import GraphOptions, Progress, make_display

    ctx = tmp_path / "ctx"
    (ctx / "a" / "b").mkdir(parents=True)
    (ctx / "a" / "b" / "c.txt").write_text("c\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --parents a/b/c.txt /out/\n")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    result = build_image_buildkit(store, str(ctx), GraphOptions(), Progress(make_display("quiet")))
    layer = result.all_records[-1].layer
    assert layer is not None
    assert (store.layers.unpacked(layer) / "out" / "a" / "b" / "c.txt").read_text() == "c\n"
    assert not [p for p in store.tmp.rglob("bk-parents-*")]


def test_a_run_chain_looks_each_layer_up_once_per_build(store, busybox, tmp_path, monkeypatch) -> None:
    """A RUN's lower dirs: each layer's short link is read from the store once per build (the
    build holds the ingest lock, so no tree goes meanwhile), not once per RUN above it; a
    tree that went between two builds is unpacked again by the next."""
    import shutil

    from dockyard.engine.build import build_image_buildkit
    from dockyard.engine.buildkit import GraphOptions, Progress, make_display

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN cat /a /b > /c\n"
                                    "RUN test \"$(cat /c)\" = \"$(printf 'a\\nb')\"\n")
    looked: list[Digest] = []
    link_name = type(store.layers).link_name
    monkeypatch.setattr(type(store.layers), "link_name", lambda self, d: (looked.append(d), link_name(self, d))[1])
    first = build_image_buildkit(store, str(ctx), GraphOptions(no_cache=True), Progress(make_display("quiet")))
    layers = [r.layer for r in first.all_records]
    assert len(looked) == len(set(looked)) and set(layers[:-1]) <= set(looked)
    # the base layer's tree goes (its link and diff/): the next build unpacks it again
    base = store.image(store.resolve("busybox")).config.diff_ids[-1]
    (store.layers.links / link_name(store.layers, base)).unlink()
    shutil.rmtree(store.layers.dir(base) / "diff")
    looked.clear()
    again = build_image_buildkit(store, str(ctx), GraphOptions(no_cache=True), Progress(make_display("quiet")))
    assert again.image_id != first.image_id  # built: its last RUN checked what it saw
    assert base in looked and (store.layers.dir(base) / "diff").is_dir()


def test_copy_parents_staging_never_writes_through_a_staged_symlink(tmp_path) -> None:
    """The --parents stager writes below its root only: an entry whose parent is a staged
    symlink (to any host path) is refused, and nothing is written where the link points."""
    import os

    from dockyard.builder.graph.files import _Stager
    from dockyard.errors import InvalidParameter

    tree, staging, outside = tmp_path / "tree", tmp_path / "staging", tmp_path / "outside"
    for d in (tree / "a", staging, outside):
        d.mkdir(parents=True)
    (tree / "a" / "l").symlink_to(outside)
    (tree / "f").write_text("f")
    stager = _Stager(staging)
    stager.entry(tree / "a", os.lstat(tree / "a"), "a")
    stager.entry(tree / "a" / "l", os.lstat(tree / "a" / "l"), "a/l")
    with pytest.raises(InvalidParameter):
        stager.entry(tree / "f", os.lstat(tree / "f"), "a/l/f")
    assert list(outside.iterdir()) == []
