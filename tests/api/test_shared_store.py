"""The CLI and the server use one store at the same time: concurrent tag writes from both
(the store's read-modify-write of its tag file is under an inter-process lock) all land."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from tests.api.conftest import Server
from tests.conftest import REPO, Dockyard


def test_cli_and_server_tag_concurrently(server: Server, dockyard: Dockyard, busybox: str) -> None:
    n = 8
    errors: list[str] = []

    def api_tags() -> None:
        for i in range(n):
            out = server.raw(f"POST /v1.47/images/busybox/tag?repo=api&tag=t{i} HTTP/1.1\r\n"
                             "Host: d\r\nConnection: close\r\n\r\n".encode())
            if not out.startswith(b"HTTP/1.1 201"):
                errors.append(out.decode(errors="replace"))

    def cli_tags() -> None:
        # another dockyard process tagging many times through the engine the CLI calls
        code = ("import sys\nfrom pathlib import Path\nfrom dockyard.engine.images import tag_image\n"
                "from dockyard.store.store import Store\ns = Store(Path(sys.argv[1]))\n"
                f"[tag_image(s, 'busybox', f'cli:t{{i}}') for i in range({n})]\n")
        proc = subprocess.run([sys.executable, "-c", code, str(dockyard.root)], cwd=REPO,
                              capture_output=True)
        if proc.returncode != 0:
            errors.append(proc.stderr.decode())

    threads = [threading.Thread(target=api_tags), threading.Thread(target=cli_tags)]
    for t in threads:
        t.start()
    dockyard("tag", "busybox", "cli:single")
    for t in threads:
        t.join(60)
    assert errors == []
    listed = json.loads(server.raw(b"GET /v1.47/images/json HTTP/1.1\r\nHost: d\r\n"
                                   b"Connection: close\r\n\r\n").partition(b"\r\n\r\n")[2])
    tags = set(listed[0]["RepoTags"])
    assert tags == {"busybox:latest", "cli:single"} | {f"api:t{i}" for i in range(n)} | {
        f"cli:t{i}" for i in range(n)}
    assert set(dockyard("images", "-q").stdout.split()) == {busybox[7:19]}  # an ID per tag row
