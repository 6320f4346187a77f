"""An exec whose serve stopped while it ran never has its end recorded: its record said
Running (and the container's ExecIDs listed it) for good. A running record counts only while
its runner holds the exec's lock (engine/execs); dockerd forgets its execs when it stops."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import docker

from tests.api.conftest import start_server


def test_an_exec_whose_serve_stopped_is_not_running(store_root: Path, busybox: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dy-exr-", dir="/tmp"))
    server = start_server(store_root, tmp)
    try:
        api = docker.APIClient(base_url=server.url, version="1.41")
        cid = api.create_container("busybox", ["sleep", "100"])["Id"]
        api.start(cid)
        exec_id = api.exec_create(cid, ["sleep", "100"])["Id"]
        api.exec_start(exec_id, detach=True)
        assert api.exec_inspect(exec_id)["Running"] is True
        assert api.inspect_container(cid)["ExecIDs"] == [exec_id]
        server.stop()
        server = start_server(store_root, tmp)
        api = docker.APIClient(base_url=server.url, version="1.41")
        state = api.exec_inspect(exec_id)
        assert (state["Running"], state["ExitCode"]) == (False, None)
        assert api.inspect_container(cid)["ExecIDs"] is None
        api.remove_container(cid, force=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
