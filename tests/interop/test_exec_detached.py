"""A detached exec (`docker exec -d`, the API's exec start with Detach): dockerd answers once
its process runs (the exec's Pid known), or refuses the start with the runtime's error (a 400;
the docker CLI prints it and exits 1), and inspect shows its end once it ended. dockyard
answered 200 at once, before the runtime ran: a missing command was a silent success, and
the exec's Pid was 0. Both engines, through Debian's docker CLI 20.10 and the SDK."""

from __future__ import annotations

import time

import docker

from tests.interop.conftest import Engine


def test_detached_exec(engine: Engine) -> None:
    try:
        engine.docker("run", "-d", "--name", "exec-d", "busybox", "sleep", "100")
        missing = engine.docker("exec", "-d", "exec-d", "nosuchcmd", check=False)
        assert missing.returncode == 1
        assert b'exec: "nosuchcmd": executable file not found in $PATH' in missing.stderr
        api = docker.APIClient(base_url=engine.host, version="1.41")
        exec_id = api.exec_create("exec-d", ["sh", "-c", "sleep 1; exit 3"])["Id"]
        api.exec_start(exec_id, detach=True)
        assert api.exec_inspect(exec_id)["Pid"] > 0
        deadline = time.monotonic() + 60
        while (state := api.exec_inspect(exec_id))["Running"]:
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["ExitCode"] == 3
        assert api.inspect_container("exec-d")["ExecIDs"] is None
    finally:
        engine.docker("rm", "-f", "exec-d", check=False)


def test_exec_inspect_and_wait_bodies(engine: Engine) -> None:
    """dockerd 20.10's ExecInspect: DetachKeys are a Go []byte, so its JSON is the keys' bytes in
    base64 ("ctrl-a,x" is "AXg="; dockyard showed the text), "" without keys, and
    ProcessConfig's user is omitempty; a wait's body always has Error, null when there is none
    (dockyard left it out: an SDK's `wait()["Error"]` was a KeyError)."""
    try:
        engine.docker("run", "-d", "--network", "none", "--name", "exec-i", "busybox", "sleep", "100")
        api = docker.APIClient(base_url=engine.host, version="1.41")
        keyed = api.exec_inspect(api.exec_create("exec-i", ["true"], detach_keys="ctrl-a,x", user="nobody")["Id"])
        plain = api.exec_inspect(api.exec_create("exec-i", ["true"])["Id"])
        assert (keyed["DetachKeys"], keyed["ProcessConfig"]["user"]) == ("AXg=", "nobody")
        assert plain["DetachKeys"] == "" and "user" not in plain["ProcessConfig"]
        assert plain["ProcessConfig"] == {"tty": False, "entrypoint": "true", "arguments": [], "privileged": False}
        engine.docker("run", "--network", "none", "--name", "exec-w", "busybox", "sh", "-c", "exit 3", check=False)
        assert api.wait("exec-w") == {"Error": None, "StatusCode": 3}
    finally:
        engine.docker("rm", "-f", "exec-i", "exec-w", check=False)
