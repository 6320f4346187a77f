"""Published host ports are one container's each, as dockerd 20.10 gives them (docker-proxy binds
each): a second container asking for a port another holds is refused and stays created, a port a
host process listens on is refused, a range takes its first free port, and the port is free again
once its container stops. dockyard forwarded with DNAT rules alone: two containers got the same
port and one silently took the other's traffic. Debian's docker CLI 20.10 on both engines."""

from __future__ import annotations

import socket

from tests.interop.conftest import Engine


def _two_held_ports() -> tuple[socket.socket, socket.socket]:
    """Sockets bound (SO_REUSEADDR, not listening) to P and P + 1, two free ports in a row,
    held for the test: a port picked free and let go until it is used was any process's again
    meanwhile (the other xdist worker's connections take ephemeral ports, and a connection's
    port blocks a later bind), and the test uses P + 1 ~20 s after it picked it. A bound,
    non-listening SO_REUSEADDR socket keeps the ports from connect's and bind(0)'s picks, and
    lets every listener that sets SO_REUSEADDR bind them (docker-proxy's Go listener, dockyard's
    check as docker-proxy binds)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = s.getsockname()[1]
        held = [socket.socket(), socket.socket()]
        try:
            for offset, sock in enumerate(held):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", port + offset))
            return held[0], held[1]
        except OSError:
            for sock in held:
                sock.close()
    raise AssertionError("no two free ports in a row")


def _refused(engine: Engine, *args: str) -> str:
    proc = engine.docker("run", "-d", *args, "busybox", "sleep", "100", check=False)
    assert proc.returncode == 125, proc
    return proc.stderr.decode()


def test_a_host_port_is_one_containers(engine: Engine) -> None:
    held, listener = _two_held_ports()
    port = held.getsockname()[1]
    try:
        engine.docker("run", "-d", "--name", "hp-a", "-p", f"{port}:80", "busybox", "sleep", "100")
        err = _refused(engine, "--name", "hp-b", "-p", f"{port}:80")
        assert "driver failed programming external connectivity on endpoint hp-b" in err, err
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in err, err
        assert engine.docker("inspect", "-f", "{{.State.Status}}", "hp-b").stdout == b"created\n"
        # another address of the same port: the proxy's bind fails in dockerd
        err = _refused(engine, "--name", "hp-c", "-p", f"127.0.0.1:{port}:80")
        assert f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use" \
            in err, err
        # another protocol is another port; a range takes its first free one
        engine.docker("run", "-d", "--name", "hp-d", "-p", f"{port}:80/udp", "busybox", "sleep", "100")
        engine.docker("run", "-d", "--name", "hp-e", "-p", f"{port}-{port + 1}:80", "busybox", "sleep", "100")
        assert engine.docker("port", "hp-e", "80").stdout.decode().splitlines()[0] == f"0.0.0.0:{port + 1}"
        # free again once its container stops
        engine.docker("stop", "-t", "0", "hp-a")
        engine.docker("start", "hp-b")
        assert engine.docker("port", "hp-b", "80").stdout.decode().splitlines()[0] == f"0.0.0.0:{port}"
        # a host process listening on the port
        engine.docker("rm", "-f", "hp-b", "hp-e")
        listener.listen()   # (held on port + 1 since the start)
        err = _refused(engine, "--name", "hp-f", "-p", f"{port + 1}:80")
        assert f"Error starting userland proxy: listen tcp4 0.0.0.0:{port + 1}: bind: address already in use" \
            in err, err
    finally:
        held.close()
        listener.close()
        engine.docker("rm", "-f", "hp-a", "hp-b", "hp-c", "hp-d", "hp-e", "hp-f", check=False)
