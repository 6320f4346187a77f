"""`docker exec` refused before its process runs (no such user): dockerd writes the error into
the exec's stream, the docker CLI prints it and exits 126. Through dockyard serve the exec ended
126 with no word (the error stayed in serve's thread). Debian's docker CLI 20.10, both engines."""

from __future__ import annotations

from tests.interop.conftest import Engine


def test_exec_as_a_user_the_container_lacks(engine: Engine) -> None:
    try:
        engine.docker("run", "-d", "--name", "exec-err", "busybox", "sleep", "100")
        r = engine.docker("exec", "-u", "nosuchuser", "exec-err", "true", check=False)
        assert r.returncode == 126
        assert (r.stdout + r.stderr).decode().strip() == \
            "unable to find user nosuchuser: no matching entries in passwd file"
    finally:
        engine.docker("rm", "-f", "exec-err", check=False)
