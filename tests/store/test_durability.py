"""Crash safety and concurrency of the store: killed writers leave no half image; concurrent
writers lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from dockyard.digest import Digest
from dockyard.image.image import validate_image
from dockyard.image.layer import chain_ids
from dockyard.store.store import Store

from tests.conftest import REPO


def _start(dockyard, *args):
    return subprocess.Popen([sys.executable, "-m", "dockyard", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dockyard.env, cwd=REPO)


def _visible(store_root) -> tuple[list, list]:
    store = Store(store_root)
    return store.image_ids(), store.layers.all()


def test_killed_load_leaves_nothing_visible(dockyard, busybox, store_root):
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    for cut in (600, len(archive) // 3, len(archive) - 4096):
        proc = _start(dockyard, "load")
        proc.stdin.write(archive[:cut])
        proc.stdin.flush()
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _visible(store_root) == ([], [])
        assert dockyard("images", "-aq").stdout == ""
    # The store still works after the crashes.
    assert dockyard("load", input=archive).stdout == "Loaded image: busybox:latest\n"


def test_killed_import_leaves_nothing_visible(dockyard, busybox_tar, store_root):
    data = busybox_tar.read_bytes()
    proc = _start(dockyard, "import", "-", "half")
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _visible(store_root) == ([], [])


def test_concurrent_tags_are_all_kept(dockyard, busybox):
    names = [f"t{i}:v{i}" for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: dockyard("tag", "busybox", n, check=False), names))
    assert all(r.returncode == 0 for r in results)
    listed = dockyard("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(listed) == sorted(names + ["busybox:latest"])


def test_concurrent_loads_of_one_archive(dockyard, busybox, store_root):
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: dockyard("load", input=archive, check=False), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    images, layers = _visible(store_root)
    assert [str(i) for i in images] == [busybox]
    assert len(layers) == 1


def test_concurrent_rmi_and_load_keep_store_consistent(dockyard, busybox, busybox_tar, store_root):
    archive = dockyard("save", "busybox").stdout_bytes
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(dockyard, "rmi", "busybox", check=False)
            b = pool.submit(dockyard, "load", input=archive, check=False)
            a.result(), b.result()
        store = Store(store_root)
        for image_id in store.image_ids():
            validate_image(store.image(image_id))  # every visible image is whole
        dockyard("load", input=archive)


def test_store_layers_stream_back_their_diff_id(dockyard, busybox, store_root):
    store = Store(store_root)
    image = store.image(Digest.parse(busybox))
    validate_image(image)
    assert chain_ids(image.config.diff_ids)[0] == image.config.diff_ids[0]


def test_chain_ids_match_the_oci_definition():
    a = Digest("sha256", "a" * 64)
    b = Digest("sha256", "b" * 64)
    import hashlib
    expected = hashlib.sha256(f"sha256:{'a' * 64} sha256:{'b' * 64}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, Digest("sha256", expected)]


def test_unpacked_layer_has_the_files(dockyard, busybox, store_root):
    store = Store(store_root)
    image = store.image(Digest.parse(busybox))
    diff = store.layers.unpacked(image.config.diff_ids[0])
    assert os.readlink(diff / "bin" / "sh") == "busybox"
    assert (diff / "bin" / "busybox").stat().st_size > 1_000_000
    link = store.layers.link_name(image.config.diff_ids[0])
    assert len(link) == 26 and (store_root / "l" / link).resolve() == diff.resolve()
