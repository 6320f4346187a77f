"""Routing and addresses, without a server: version prefixes, route matching, -H parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.api.app import make_router
from dockyard.api.router import check_version, split_version
from dockyard.api.server import Listener
from dockyard.errors import InvalidParameter


def test_version_prefix() -> None:
    assert split_version("/v1.41/images/json") == ("1.41", "/images/json")
    assert split_version("/images/json") == (None, "/images/json")
    assert check_version(None) == "1.47"
    assert check_version("1.41") == "1.41"
    with pytest.raises(InvalidParameter, match="too new"):
        check_version("1.48")
    with pytest.raises(InvalidParameter, match="too old"):
        check_version("1.23")


@pytest.mark.parametrize("method, path, handler, params", [
    ("GET", "/images/json", "list_images", {}),
    ("GET", "/images/localhost:5000/a/b:1/json", "inspect_image", {"name": "localhost:5000/a/b:1"}),
    ("DELETE", "/images/sha256:abc", "remove_image", {"name": "sha256:abc"}),
    ("POST", "/images/reg.io/x/push", "push", {"name": "reg.io/x"}),
    ("HEAD", "/_ping", "ping", {}),
    ("POST", "/containers/abc/attach", "attach", {"id": "abc"}),
    ("POST", "/containers/prune", "prune", {}),
])
def test_routes(method: str, path: str, handler: str, params: dict[str, str]) -> None:
    route, found = make_router().match(method, path)
    assert route.handler.__name__ == handler
    assert found == params


def test_listener_addresses() -> None:
    assert Listener.parse("unix:///run/d.sock") == Listener("unix", path=Path("/run/d.sock"))
    assert Listener.parse("tcp://127.0.0.1:2376") == Listener("tcp", host="127.0.0.1", port=2376)
    for bad in ("tcp://127.0.0.1", "http://x:1", "unix://"):
        with pytest.raises(InvalidParameter):
            Listener.parse(bad)
