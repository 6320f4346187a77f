"""POST /commit with a config in its body (the docker SDK's `container.commit(conf=...)`), against
dockyard serve and the reference dockerd 20.10: Docker uses the request's config (not the
container's) with the changes, completed from the container's config by its create merge."""

from __future__ import annotations

import docker
import pytest

from tests.interop.conftest import Engine


def test_commit_with_a_config(engine: Engine) -> None:
    client = docker.DockerClient(base_url=engine.host)
    c = client.containers.create("busybox", ["sh", "-c", "true"], environment=["A=1"],
                                 labels={"l": "1"}, name=f"commit-conf-{engine.name}")
    try:
        c.commit("commit-conf", "1", conf={"Cmd": ["echo", "hi"], "Env": ["B=2"],
                                           "Labels": {"m": "2"}, "User": "nobody"},
                 changes=["EXPOSE 80"])
        config = client.images.get("commit-conf:1").attrs["Config"]
        # the request's fields, the container's Env and Labels after them; nothing of the
        # container's Hostname, Attach flags or Image (they are not merged)
        assert config["Cmd"] == ["echo", "hi"] and config["User"] == "nobody"
        assert config["Env"] == ["B=2", "A=1"] and config["Labels"] == {"l": "1", "m": "2"}
        assert config["ExposedPorts"] == {"80/tcp": {}}
        assert (config["Hostname"], config["Image"], config["AttachStdout"]) == ("", "", False)
        c.commit("commit-conf", "2", conf={"Cmd": "x"})          # Docker's strslice: one string
        assert client.images.get("commit-conf:2").attrs["Config"]["Cmd"] == ["x"]
        c.commit("commit-conf", "3")                            # no config: the container's
        config = client.images.get("commit-conf:3").attrs["Config"]
        assert config["Cmd"] == ["sh", "-c", "true"] and config["Image"] == "busybox"
        assert config["Hostname"] == c.id[:12] and config["AttachStdout"] is True
        with pytest.raises(docker.errors.APIError) as bad:
            client.api.commit(c.id, "commit-conf", "4", conf={"Env": "B=2"})
        assert "cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type " \
            "[]string" in str(bad.value)
        # kept on purpose: dockerd answers its decoder's error with 500, dockyard with 400 (the
        # client's mistake, as every other malformed body)
        assert bad.value.status_code == (500 if engine.name == "dockerd" else 400)
    finally:
        c.remove(force=True)
        for tag in ("1", "2", "3"):
            client.images.remove(f"commit-conf:{tag}")
