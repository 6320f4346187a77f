"""`docker plugin` against an engine with no plugin installed (dockyard has no plugin system):
Debian's docker CLI 20.10 on dockyard serve and the reference dockerd. `plugin ls` was a 404
("page not found") on dockyard, which tools that list plugins first took for an error."""

from __future__ import annotations

from tests.interop.conftest import Engine


def test_no_plugins(engine: Engine) -> None:
    assert engine.docker("plugin", "ls").stdout.decode().split() == ["ID", "NAME", "DESCRIPTION", "ENABLED"]
    assert engine.docker("plugin", "ls", "--filter", "enabled=true", "-q").stdout == b""
    for args, message in [(["plugin", "inspect", "foo"], b"No such plugin: foo"),   # the CLI's words for a 404
                          (["plugin", "rm", "foo"], b"No such plugin: foo"),
                          (["plugin", "ls", "--filter", "nope=1"], b"Invalid filter 'nope'")]:
        r = engine.docker(*args, check=False)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
