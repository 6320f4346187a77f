"""Detach keys (ctrl-p ctrl-q, --detach-keys, the API's detachKeys and an exec's DetachKeys) as
dockerd handles them: the daemon watches a TTY session's stdin for them and ends the stream, the
container or exec running on. Through the docker SDK's raw sockets (docker-py's own detach tests
do this), the docker CLI 20.10 and dockyard's own CLI on a pty, against dockyard serve and dockerd."""

from __future__ import annotations

import socket
import time

import docker
import pytest

from tests.interop.conftest import DOCKER, Engine
from tests.interop.test_interactive import _typed_after_prompt

EXEC_DETACHED = b"exec attach failed: error on attach stdin: read escape sequence\r\n"


@pytest.fixture
def client(engine: Engine):  # noqa: ANN201
    api = docker.APIClient(base_url=engine.host, version="1.41")
    yield api
    for c in api.containers(all=True, filters={"label": "detach-test"}):
        api.remove_container(c["Id"], force=True)
    api.close()


def _cat(client, tty: bool = True) -> str:  # noqa: ANN001
    cid = client.create_container("busybox", "cat", stdin_open=True, tty=tty, labels=["detach-test"])["Id"]
    client.start(cid)
    return cid


def _raw(sock) -> socket.socket:  # noqa: ANN001
    return getattr(sock, "_sock", sock)


def _read_to_end(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    out = b""
    while data := sock.recv(4096):
        out += data
    return out


def _read_until(sock: socket.socket, want: bytes) -> bytes:
    sock.settimeout(30)
    out = b""
    while want not in out:
        data = sock.recv(4096)
        assert data, out
        out += data
    return out


def _type(sock: socket.socket, keys: list[bytes]) -> None:
    """Each key as a write of its own, a moment apart (as typed; docker-py's tests do it so)."""
    for key in keys:
        sock.sendall(key)
        time.sleep(0.2)


@pytest.mark.parametrize("keys, param", [([b"\x10", b"\x11"], None), ([b"\x01", b"b"], "ctrl-a,b")])
def test_attach_socket(client, keys: list[bytes], param: str | None) -> None:  # noqa: ANN001
    """A TTY container's attach ends at the keys (the client reads the stream's end, nothing
    more), what came before them reaches the container, a partial sequence passes through, and
    the container runs on; dockyard serve never detached (docker-py's test_detach_*)."""
    cid = _cat(client)
    params = {"stdin": 1, "stdout": 1, "stream": 1, **({"detachKeys": param} if param else {})}
    sock = _raw(client.attach_socket(cid, params))
    try:
        sock.sendall(keys[0] + b"x\n")   # the first key, then another: both pass (cat's output)
        _read_until(sock, keys[0] + b"x\r\n")
        _type(sock, [b"typed\n" + keys[0], keys[1] + b"dropped\n"])
        sock.sendall(b"make sure the socket is closed\n")
        assert b"dropped" not in _read_to_end(sock)
    finally:
        sock.close()
    assert client.inspect_container(cid)["State"]["Running"]
    check = client.exec_create(cid, ["sh", "-c", "ls -l /proc/1/fd/0"])
    assert b"/dev/pts/" in client.exec_start(check)    # its terminal still open


def test_attach_without_tty_passes_the_keys(client) -> None:  # noqa: ANN001
    """Without a TTY dockerd does not watch: the keys are data like any other."""
    cid = _cat(client, tty=False)
    sock = _raw(client.attach_socket(cid, {"stdin": 1, "stdout": 1, "stream": 1}))
    try:
        _type(sock, [b"\x10", b"\x11", b"end\n"])
        framed, out = _read_until(sock, b"end\n"), b""
        while framed:      # stdout's frames: 8 bytes of header each
            size = int.from_bytes(framed[4:8], "big")
            out, framed = out + framed[8:8 + size], framed[8 + size:]
        assert out == b"\x10\x11end\n"
    finally:
        sock.close()


@pytest.mark.parametrize("keys, param", [([b"\x10", b"\x11"], None), ([b"\x18"], "ctrl-x")])
def test_exec_socket(client, keys: list[bytes], param: str | None) -> None:  # noqa: ANN001
    """A TTY exec's start ends at the keys with dockerd's error line; the SDK sends its exec's
    keys as `detachKeys` (Go's decoding takes any case)."""
    cid = _cat(client)
    exec_id = client.exec_create(cid, "cat", stdin=True, tty=True, detach_keys=param)
    sock = _raw(client.exec_start(exec_id, tty=True, socket=True))
    try:
        _type(sock, keys)
        sock.sendall(b"make sure the socket is closed\n")
        assert _read_to_end(sock).endswith(EXEC_DETACHED)
    finally:
        sock.close()
    assert client.inspect_container(cid)["State"]["Running"]


def test_invalid_keys(client) -> None:  # noqa: ANN001
    """dockerd's errors: an attach's is a 400, an exec's create a 500."""
    cid = _cat(client)
    with pytest.raises(docker.errors.APIError) as failed:
        client.exec_create(cid, "cat", stdin=True, tty=True, detach_keys="ctrl-1")
    assert failed.value.response.status_code == 500
    assert "Invalid escape keys (ctrl-1) provided" in failed.value.explanation
    reply = client._post(client._url("/containers/{0}/attach", cid),
                         params={"stdin": 1, "stream": 1, "detachKeys": "ctrl-A"})
    assert reply.status_code == 400 and b"Invalid detach keys (ctrl-A) provided" in reply.content


def test_docker_cli_on_a_terminal(engine: Engine) -> None:
    """--detach-keys on the docker CLI's run -it and exec -it, and dockyard's own CLI through
    the daemon and in process (its exec -it could not be left): each leaves with the docker
    CLI's status (0 for run, 1 and `read escape sequence` for exec), the container running on."""
    dockyard = engine.own_cli if engine.name == "dockyard" else None
    def running(name: str) -> bool:
        return engine.docker("inspect", "-f", "{{.State.Running}}", name).stdout == b"true\n"
    argv = [DOCKER, "run", "-it", "--detach-keys", "ctrl-a,b", "--name", "dk-cli", "busybox", "sh"]
    runs = [("cli", argv, engine.env)]
    if engine.name == "dockyard":
        runs.append(("own", dockyard.argv("-H", engine.host, "run", "-it", "--detach-keys", "ctrl-a,b",
                                          "--name", "dk-own", "busybox", "sh"), dockyard.env))
    try:
        for name, argv, env in runs:
            code, out = _typed_after_prompt(argv, env, b"\x01b")
            assert code == 0 and b"read escape sequence" not in out, (name, code, out)
            assert running(f"dk-{name}"), name
        execs = [([DOCKER, "exec", "-it", "--detach-keys", "ctrl-x", "dk-cli", "sh"], engine.env, b"\x18")]
        if engine.name == "dockyard":   # through the daemon, and in process (the exec our child)
            execs += [(dockyard.argv("-H", engine.host, "exec", "-it", "--detach-keys", "ctrl-x", "dk-cli", "sh"),
                       dockyard.env, b"\x18"),
                      (dockyard.argv("exec", "-it", "--detach-keys", "ctrl-x", "dk-cli", "sh"), dockyard.env,
                       b"\x18"),
                      (dockyard.argv("exec", "-it", "dk-cli", "sh"), dockyard.env, b"\x10\x11")]
        for argv, env, keys in execs:
            code, out = _typed_after_prompt(argv, env, keys)
            assert code == 1 and b"read escape sequence" in out, (argv, code, out)
        assert running("dk-cli")
    finally:
        engine.docker("rm", "-f", "dk-cli", "dk-own", check=False)


def test_attach_to_a_running_container_from_now_on(client) -> None:  # noqa: ANN001
    """An attach without logs=1 (`docker attach`, the SDK's attach) to a running container gets
    what it writes from then on, not its earlier output: dockyard replayed a shell's banner (in
    its log) to each `docker attach`."""
    cid = client.create_container("busybox", "sh", stdin_open=True, tty=True, labels=["detach-test"])["Id"]
    client.start(cid)
    while b"built-in commands" not in client.logs(cid):
        time.sleep(0.1)
    sock = _raw(client.attach_socket(cid, {"stdin": 1, "stdout": 1, "stream": 1}))
    try:
        sock.sendall(b"echo late-$((40+2))\n")
        seen = _read_until(sock, b"late-42")
    finally:
        sock.close()
    assert b"BusyBox" not in seen, seen


def test_the_client_configs_detach_keys(engine: Engine, tmp_path) -> None:  # noqa: ANN001
    """A client config's detachKeys are the keys when --detach-keys is not given: the docker CLI
    sends them to the daemon, dockyard's own CLI too, and uses them in process."""
    dockyard = engine.own_cli if engine.name == "dockyard" else None
    (tmp_path / "config.json").write_text('{"detachKeys": "ctrl-x,x"}')
    cli_env = {**engine.env, "DOCKER_CONFIG": str(tmp_path)}
    own_env = {**dockyard.env, "DOCKER_CONFIG": str(tmp_path)} if dockyard else {}
    engine.docker("run", "-d", "-it", "--name", "dk-cfg", "busybox", "sh")
    try:
        execs = [([DOCKER, "exec", "-it", "dk-cfg", "sh"], cli_env)]
        if engine.name == "dockyard":
            execs += [(dockyard.argv("-H", engine.host, "exec", "-it", "dk-cfg", "sh"), own_env),
                      (dockyard.argv("exec", "-it", "dk-cfg", "sh"), own_env)]
        for argv, env in execs:
            code, out = _typed_after_prompt(argv, env, b"\x10\x11\x18x")  # the default passes on
            assert code == 1 and b"read escape sequence" in out, (argv, code, out)
        if engine.name == "dockyard":
            code, out = _typed_after_prompt(dockyard.argv("run", "-it", "--name", "dk-cfg-own", "busybox", "sh"),
                                            own_env, b"\x18x")
            assert code == 0, (code, out)
            assert engine.docker("inspect", "-f", "{{.State.Running}}", "dk-cfg-own").stdout == b"true\n"
    finally:
        engine.docker("rm", "-f", "dk-cfg", "dk-cfg-own", check=False)


def test_start_attached_on_a_terminal(engine: Engine) -> None:
    """`start -ai` of a `-it` container left with the detach keys: status 0, the container
    running on; then attached again and ended by its shell (its status), from the docker CLI
    and dockyard's own CLI through the daemon."""
    dockyard = engine.own_cli if engine.name == "dockyard" else None
    engine.docker("create", "-it", "--name", "dk-start", "busybox", "sh")
    clis = [([DOCKER], engine.env)] + ([(dockyard.argv("-H", engine.host), dockyard.env)]
                                        if engine.name == "dockyard" else [])
    try:
        for cli, env in clis:
            engine.docker("kill", "dk-start", check=False)    # a new start: its shell greets
            code, out = _typed_after_prompt([*cli, "start", "-ai", "dk-start"], env, b"\x10\x11")
            assert code == 0 and b"read escape sequence" not in out, (cli, code, out)
            assert engine.docker("inspect", "-f", "{{.State.Running}}", "dk-start").stdout == b"true\n"
        code, out = _typed_after_prompt(["sh", "-c", f"echo 'built-in commands'; exec {' '.join(clis[-1][0])} "
                                         "start -ai dk-start"], clis[-1][1], b"exit 3\r")
        assert code == 3, (code, out)
    finally:
        engine.docker("rm", "-f", "dk-start", check=False)
