"""Where a build's context and Dockerfile come from: a directory, `-` (a tar, plain or
compressed, or a lone Dockerfile on stdin), an http(s) URL of a tarball, `-f` inside or outside
the context or `-f -` (docker CLI 28 / Docker 20.10 behaviour)."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
from pathlib import Path

from dockyard.store.store import Store
from tests.httpserve import serve_bytes


def context_tar(files: dict[str, str], compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


def file_in(root: Path, name: str, path: str) -> bytes:
    store = Store(root)
    image = store.image(store.resolve(name))
    with image.layers[-1].open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for m in tar:
            if m.name == path:
                return tar.extractfile(m).read()  # type: ignore[union-attr]
    raise AssertionError(path)


FILES = {"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "from tar\n"}


def test_stdin_tar_plain_and_gzip(dockyard, busybox) -> None:
    for compress in (False, True):
        result = dockyard("build", "-t", f"stdin{int(compress)}", "-",
                          input=context_tar(FILES, compress))
        assert "Successfully tagged" in result.stdout
        assert file_in(dockyard.root, f"stdin{int(compress)}", "f") == b"from tar\n"


def test_stdin_tar_with_dockerfile_inside(dockyard, busybox) -> None:
    files = {"build/My.dockerfile": "FROM busybox\nCOPY f /g\n", "f": "x\n"}
    dockyard("build", "-f", "build/My.dockerfile", "-t", "inner", "-", input=context_tar(files))
    assert file_in(dockyard.root, "inner", "g") == b"x\n"


def test_lone_dockerfile_on_stdin(dockyard, busybox) -> None:
    result = dockyard("build", "-t", "lone", "-", input=b"FROM busybox\nRUN echo lone > /l\n")
    assert "lone" in result.stdout
    assert file_in(dockyard.root, "lone", "l") == b"lone\n"
    failed = dockyard("build", "-", input=b"FROM busybox\nCOPY f /f\n", check=False)
    assert "file not found in build context" in failed.stderr


def test_dockerfile_outside_context_and_from_stdin(dockyard, busybox, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("ctx file\n")
    outside = tmp_path / "Dockerfile.out"
    outside.write_text("FROM busybox\nCOPY f /f\n")
    dockyard("build", "-f", str(outside), "-t", "outside", str(ctx))
    assert file_in(dockyard.root, "outside", "f") == b"ctx file\n"
    dockyard("build", "-f", "-", "-t", "dfstdin", str(ctx), input=b"FROM busybox\nCOPY f /h\n")
    assert file_in(dockyard.root, "dfstdin", "h") == b"ctx file\n"
    both = dockyard("build", "-f", "-", "-", input=b"", check=False)
    assert "can't use stdin for both build context and dockerfile" in both.stderr
    missing = dockyard("build", str(tmp_path / "nope"), check=False)
    assert 'unable to prepare context: path "' in missing.stderr


def test_url_context(dockyard, busybox) -> None:
    with serve_bytes(context_tar(FILES, compress=True)) as base:
        dockyard("build", "-t", "fromurl", f"{base}/ctx.tar.gz")
    assert file_in(dockyard.root, "fromurl", "f") == b"from tar\n"


def test_engine_build_from_a_stream(store, busybox_tar, tmp_path: Path) -> None:
    """What the Engine API's POST /build does: the request body is the context tar."""
    from dockyard.engine.build import BuildOptions
    from dockyard.engine.build import build_image
    from dockyard.engine.images import import_image

    import_image(store, str(busybox_tar), repository="busybox")
    chunks: list[bytes] = []
    result = build_image(store, io.BytesIO(context_tar(FILES, compress=True)), BuildOptions(),
                         write=chunks.append)
    text = b"".join(chunks).decode()
    assert text.startswith("Step 1/2 : FROM busybox\n")
    assert text.endswith(f"Successfully built {result.image_id.hex[:12]}\n")


def test_engine_build_off_the_main_thread(store, busybox_tar) -> None:
    """An API server builds in a worker thread: RUN must work there too (output streamed, the
    container removed), not only from the CLI's main thread."""
    from dockyard.engine.build import BuildOptions
    from dockyard.engine.build import build_image
    from dockyard.engine.images import import_image

    import_image(store, str(busybox_tar), repository="busybox")
    chunks: list[bytes] = []
    results: list[object] = []

    def work() -> None:
        try:
            results.append(build_image(store, io.BytesIO(b"FROM busybox\nRUN echo from-thread > /t; echo out\n"),
                                       BuildOptions(), write=chunks.append))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert not isinstance(results[0], BaseException), results[0]
    assert b"\nout\n" in b"".join(chunks)
    assert file_in(store.root, results[0].image_id.hex, "t") == b"from-thread\n"  # type: ignore[union-attr]
    containers = store.root / "containers"  # a one-shot container (runtime/oneshot.py) makes none
    assert not containers.exists() or not any(containers.iterdir())
