"""dockyard.digest.small_sha256: the same digests as hashlib's sha256, from the interpreter's own
sha256 for a few KiB while nothing loaded hashlib (and OpenSSL's libcrypto with it: a cached
build's ~2.5 ms), from hashlib for more data or once hashlib is loaded. dockyard.digest.Sha256:
the same for bytes that come in pieces (a layer's tar, a file's content), whatever their sizes."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from dockyard.digest import SMALL, Digest, HashingWriter, Sha256, small_sha256
from dockyard.errors import InvalidParameter
from tests.conftest import REPO


def test_small_sha256_gives_hashlibs_digests() -> None:
    for size in (0, 1, 63, 64, 1000, SMALL, SMALL + 1, 3 * SMALL):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        assert small_sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        h = small_sha256(data[:size // 2])
        h.update(data[size // 2:])
        assert h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert str(Digest.of_bytes(b"")) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _run_probe(probe: str) -> subprocess.CompletedProcess:
    """The probe in a fresh interpreter (which modules it loads is what the tests look at)."""
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)


def test_small_data_is_hashed_without_loading_hashlib() -> None:
    probe = ("import sys\n"
             "from dockyard.digest import SMALL, small_sha256\n"
             "small = type(small_sha256(b'x' * SMALL)).__module__\n"
             "loaded = [m for m in ('hashlib', '_hashlib') if m in sys.modules]\n"
             "big = type(small_sha256(b'x' * (SMALL + 1))).__module__\n"
             "after = type(small_sha256(b'x')).__module__\n"
             "print(small, loaded, big, after)\n")
    out = _run_probe(probe)
    # the check can fail: more than SMALL loads hashlib, and then a small piece goes to it too
    assert out.stdout.split() == ["_sha256", "[]", "_hashlib", "_hashlib"]


def test_sha256_of_pieces_gives_hashlibs_digests() -> None:
    data = bytes(range(256)) * (3 * SMALL // 256) + b"tail"
    for size in (0, 1, 1000, SMALL - 1, SMALL, SMALL + 1, 2 * SMALL, len(data)):
        whole = data[:size]
        expected = hashlib.sha256(whole).hexdigest()
        for piece in (1, 511, 512, 4096, SMALL, SMALL + 1, 1 << 20):
            if size // piece > 300:
                continue
            h = Sha256(whole[:piece // 2])
            update = h.update  # taken before the pieces pass SMALL, as HashBehind takes it
            for at in range(piece // 2, size, piece):
                update(memoryview(bytearray(whole[at:at + piece])))  # a buffer used again
            assert h.hexdigest() == expected, (size, piece)
            assert h.digest() == bytes.fromhex(expected)
            h.update(b"more")  # a digest ends nothing, as with hashlib's
            assert h.hexdigest() == hashlib.sha256(whole + b"more").hexdigest()
    sink = open("/dev/null", "wb")
    with sink:
        writer = HashingWriter(sink)
        for at in range(0, len(data), 5000):
            writer.write(data[at:at + 5000])
        assert writer.digest == Digest("sha256", hashlib.sha256(data).hexdigest())


def test_pieces_load_hashlib_only_past_small() -> None:
    probe = ("import sys\n"
             "from dockyard.digest import SMALL, Sha256\n"
             "h = Sha256(b'x' * (SMALL - 1))\n"
             "h.update(b'y')\n"
             "h.hexdigest()\n"
             "loaded = [m for m in ('hashlib', '_hashlib') if m in sys.modules]\n"
             "h.update(b'z')\n"
             "print(loaded, 'hashlib' in sys.modules, type(Sha256()._hash).__module__)\n")
    out = _run_probe(probe)
    # the check can fail: the byte past SMALL loads hashlib, and a new hash then starts with it
    assert out.stdout.split() == ["[]", "True", "_hashlib"]


def test_many_small_pieces_load_hashlib_past_the_budget() -> None:
    """Small files in great numbers (a context of 10,000 files of 20 KiB) are hashed by hashlib
    once the interpreter's sha256 has hashed BUDGET bytes in all: at ~4x its cost a byte, it made
    a cold build of such a context 0.4 s slower."""
    probe = ("import sys\n"
             "from dockyard.digest import BUDGET, SMALL, Sha256\n"
             "piece = b'x' * (SMALL // 2)\n"
             "for _ in range(BUDGET // len(piece)):\n"
             "    Sha256(piece).hexdigest()\n"
             "before = 'hashlib' in sys.modules\n"
             "Sha256(piece).hexdigest()\n"
             "print(before, 'hashlib' in sys.modules, type(Sha256()._hash).__module__)\n")
    out = _run_probe(probe)
    # the check can fail: one piece past BUDGET loads hashlib, and new hashes start with it
    assert out.stdout.split() == ["False", "True", "_hashlib"]


def test_a_digest_with_a_trailing_newline_is_invalid() -> None:
    """go-digest's anchored `^[a-f0-9]{64}$` is Go's: `$` is the end of the text, so dockerd
    refuses "sha256:<hex>\\n"; Python's re.match with `$` took it, and the hex kept the newline
    (a blob path with a newline in it, a registry's lie reported as a digest mismatch)."""
    good = "sha256:" + "a" * 64
    assert str(Digest.parse(good)) == good
    for bad in [good + "\n", good + "\n\n", "sha512:" + "b" * 128 + "\n", good[:-1] + "\n"]:
        with pytest.raises(InvalidParameter):
            Digest.parse(bad)
