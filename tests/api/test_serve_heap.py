"""`dockyard serve` gives back what its requests freed (dockyard/heap.py): glibc's malloc runs
with the server's fixed thresholds, and a pull or push through it (a transport pipe) does not
switch it to the short transfer's (keep freed chunks for the next, up to 64 MiB an arena)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# In a process: 30 MiB of 3 MiB buffers, made and freed, stay free in malloc's arena under a
# transfer's thresholds (kept up to 64 MiB), and go back to the kernel under the server's (4 MiB).
PROBE = textwrap.dedent("""
    import ctypes, os, signal, sys, threading, time, types
    from pathlib import Path

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    def kept():
        lib = ctypes.CDLL(None)
        lib.mallinfo2.restype = MallInfo2
        bufs = [bytearray(3 << 20) for _ in range(10)]
        del bufs
        return lib.mallinfo2().fordblks >= 24 << 20

    mode, sock, root = sys.argv[1:4]
    if mode == "transfer":
        from dockyard.transport.pipe import Pipe
        Pipe()
        print(kept())
        sys.exit(0)

    def probe():
        while not os.path.exists(sock):
            time.sleep(0.01)
        from dockyard.transport.pipe import Pipe
        Pipe()  # what a pull or push through serve makes
        print(kept(), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    from dockyard.api.daemon import cmd_serve
    threading.Thread(target=probe, daemon=True).start()
    args = types.SimpleNamespace(host=[f"unix://{sock}"], tlsverify=False, tlscacert=None, tlscert=None,
                                 tlskey=None, insecure_tcp=False)
    cmd_serve(args, types.SimpleNamespace(root=Path(root)))
""")


def _probe(mode: str, tmp_path: Path) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(tmp_path / "s.sock"), str(tmp_path / "store")],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not hasattr(__import__("os"), "confstr") or "glibc" not in
                    (__import__("os").confstr("CS_GNU_LIBC_VERSION") or ""), reason="glibc's malloc only")
def test_serve_keeps_its_thresholds_through_a_transfer(tmp_path: Path) -> None:
    assert _probe("transfer", tmp_path) == "True"   # a CLI transfer keeps what it freed for its next chunks
    assert _probe("serve", tmp_path) == "False"     # serve gives it back, a pipe made in it or not
