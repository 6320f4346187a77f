"""Anonymous volumes (`-v /path`, an image's VOLUME) go with their container when dockerd removes
them: `docker run --rm` (AutoRemove) and `docker rm -v`, unless another container still mounts
one (--volumes-from); a plain `rm` and named volumes leave them. dockyard ignored the API's `v`
and --rm kept them, so every such run left a volume behind. Through Debian's docker CLI 20.10 on
dockyard serve and the reference dockerd."""

from __future__ import annotations

from tests.interop.conftest import Engine


def _volumes(engine: Engine) -> set[str]:
    return set(engine.docker("volume", "ls", "-q").stdout.decode().split())


def test_rm_v_and_auto_remove(engine: Engine) -> None:
    before = _volumes(engine)
    try:
        engine.docker("run", "--rm", "--network", "none", "-v", "/data", "busybox", "true")
        assert _volumes(engine) == before
        engine.docker("run", "-d", "--name", "av1", "--network", "none", "-v", "/d3", "busybox", "sleep", "100")
        engine.docker("run", "--name", "av2", "--network", "none", "--volumes-from", "av1", "busybox", "true")
        engine.docker("rm", "-f", "-v", "av1")
        shared = _volumes(engine) - before
        assert len(shared) == 1                 # av2 still mounts it: it stays
        engine.docker("rm", "-v", "av2")
        assert _volumes(engine) == before       # its last user removed with -v
        engine.docker("run", "--name", "av3", "--network", "none", "-v", "/d4", "-v", "av-named:/n",
                      "busybox", "true")
        engine.docker("rm", "av3")              # no -v: both stay
        left = _volumes(engine) - before
        assert len(left) == 2 and "av-named" in left
        engine.docker("run", "--rm", "--network", "none", "-v", "av-named:/n", "busybox", "true")
        assert "av-named" in _volumes(engine)   # --rm leaves a named volume
    finally:
        engine.docker("rm", "-f", "av1", "av2", "av3", check=False)
        for name in _volumes(engine) - before:
            engine.docker("volume", "rm", name, check=False)
