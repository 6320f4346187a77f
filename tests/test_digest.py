"""dockyard.digest.small_sha256: the same digests as hashlib's sha256, from the interpreter's own
sha256 for a few KiB while nothing loaded hashlib (and OpenSSL's libcrypto with it: a cached
build's ~2.5 ms), from hashlib for more data or once hashlib is loaded."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from dockyard.digest import SMALL, Digest, small_sha256
from tests.conftest import REPO


def test_small_sha256_gives_hashlibs_digests() -> None:
    for size in (0, 1, 63, 64, 1000, SMALL, SMALL + 1, 3 * SMALL):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        assert small_sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        h = small_sha256(data[:size // 2])
        h.update(data[size // 2:])
        assert h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert str(Digest.of_bytes(b"")) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_small_data_is_hashed_without_loading_hashlib() -> None:
    probe = ("import sys\n"
             "from dockyard.digest import SMALL, small_sha256\n"
             "small = type(small_sha256(b'x' * SMALL)).__module__\n"
             "loaded = [m for m in ('hashlib', '_hashlib') if m in sys.modules]\n"
             "big = type(small_sha256(b'x' * (SMALL + 1))).__module__\n"
             "after = type(small_sha256(b'x')).__module__\n"
             "print(small, loaded, big, after)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    # the check can fail: more than SMALL loads hashlib, and then a small piece goes to it too
    assert out.stdout.split() == ["_sha256", "[]", "_hashlib", "_hashlib"]
