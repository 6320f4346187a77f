"""What a request's API version changes in dockyard serve's answers (it speaks up to 1.47; its
engine answers as dockerd 20.10, API 1.41): a container's endpoints on a user network (1.44's
DNSNames; the Aliases keep the short ID, which docker-compose 1.29 needs: api/containers), and
the image rows' VirtualSize, gone from 1.44 (df gave it to all)."""

from __future__ import annotations

import json

from tests.api.conftest import Server


def _get(server: Server, path: str):  # noqa: ANN202
    reply = server.raw(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    return json.loads(reply.partition(b"\r\n\r\n")[2])


def test_versions_shape_the_answers(server, dockyard, busybox) -> None:  # noqa: ANN001
    dockyard("network", "create", "vnet")
    cid = dockyard("run", "-d", "--name", "vweb", "--network", "vnet", "--network-alias", "web",
                   "busybox", "sleep", "100").stdout.strip()
    try:
        short = cid[:12]
        endpoints = {v: _get(server, f"/v{v}/containers/vweb/json")["NetworkSettings"]["Networks"]["vnet"]
                     for v in ("1.41", "1.44", "1.45")}
        assert endpoints["1.41"]["Aliases"] == ["web", short] and "DNSNames" not in endpoints["1.41"]
        assert endpoints["1.44"]["Aliases"] == ["web", short]
        assert endpoints["1.44"]["DNSNames"] == ["vweb", "web", short]
        assert endpoints["1.45"]["Aliases"] == ["web", short]      # compose 1.29 needs it
        row = next(c for c in _get(server, "/v1.45/containers/json") if c["Id"] == cid)
        assert row["NetworkSettings"]["Networks"]["vnet"]["DNSNames"] == ["vweb", "web", short]
        assert all("VirtualSize" in i for i in _get(server, "/v1.41/system/df")["Images"])
        assert not any("VirtualSize" in i for i in _get(server, "/v1.44/system/df")["Images"])
    finally:
        dockyard("rm", "-f", "vweb")
        dockyard("network", "rm", "vnet")
