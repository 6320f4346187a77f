"""Request bodies with a value of the wrong type, sent to dockyard serve and to dockerd 20.10:
both refuse them with Go's encoding/json message (`json: cannot unmarshal ... into Go struct
field ... of type ...`) and make nothing. dockyard failed inside its handlers on many of these
(500, `internal error: TypeError`), passed a number too large for Go to runc, or took a string
for a list (`"Env": "A=1"`)."""

from __future__ import annotations

import http.client
import json
import socket

from tests.interop.conftest import Engine


def _post(engine: Engine, path: str, body: bytes) -> tuple[int, str]:
    status, answer = engine.post(path, body)
    return status, answer.get("message", "")


# (path, body, dockerd 20.10's message: each seen from it, and checked again below)
_U = "json: cannot unmarshal "
_CASES = [
    ("/networks/create", {"Name": "badnet", "Labels": "x"},
     _U + "string into Go struct field NetworkCreateRequest.Labels of type map[string]string"),
    ("/networks/create", {"Name": "badnet", "Labels": {"a": 1}},
     _U + "number into Go struct field NetworkCreateRequest.Labels of type string"),
    ("/networks/create", {"Name": "badnet", "Options": [1]},
     _U + "array into Go struct field NetworkCreateRequest.Options of type map[string]string"),
    ("/networks/create", {"Name": "badnet", "IPAM": {"Config": 5}},
     _U + "number into Go struct field IPAM.IPAM.Config of type []network.IPAMConfig"),
    ("/networks/create", {"Name": "badnet", "IPAM": {"Config": [5]}},
     _U + "number into Go struct field IPAM.IPAM.Config of type network.IPAMConfig"),
    ("/networks/create", {"Name": "badnet", "IPAM": {"Config": [{"Subnet": 5}]}},
     _U + "number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string"),
    ("/networks/create", {"Name": 5},
     _U + "number into Go struct field NetworkCreateRequest.Name of type string"),
    ("/volumes/create", {"Name": "badvol", "Labels": "x"},
     _U + "string into Go struct field VolumeCreateBody.Labels of type map[string]string"),
    ("/volumes/create", {"Name": "badvol", "DriverOpts": 1.5},
     _U + "number into Go struct field VolumeCreateBody.DriverOpts of type map[string]string"),
    ("/volumes/create", {"Name": True},
     _U + "bool into Go struct field VolumeCreateBody.Name of type string"),
    ("/containers/{id}/update", {"Memory": 12345678901234567890123},
     _U + "number 12345678901234567890123 into Go struct field UpdateConfig.Memory of type int64"),
    ("/containers/{id}/update", {"Memory": 1.5},
     _U + "number 1.5 into Go struct field UpdateConfig.Memory of type int64"),
    ("/containers/{id}/update", {"PidsLimit": "x"},
     _U + "string into Go struct field UpdateConfig.PidsLimit of type int64"),
    ("/containers/{id}/update", {"RestartPolicy": 5},
     _U + "number into Go struct field UpdateConfig.RestartPolicy of type container.RestartPolicy"),
    ("/containers/{id}/update", {"RestartPolicy": {"Name": 5}},
     _U + "number into Go struct field RestartPolicy.RestartPolicy.Name of type string"),
    ("/containers/create", {"Image": "busybox", "Env": "A=1"},
     _U + "string into Go struct field ContainerConfigWrapper.Env of type []string"),
    ("/containers/create", {"Image": "busybox", "Cmd": [5]},
     _U + "array into Go struct field ContainerConfigWrapper.Cmd of type string"),
    ("/containers/create", {"Image": "busybox", "ExposedPorts": {"80/tcp": 5}},
     _U + "number into Go struct field ContainerConfigWrapper.ExposedPorts of type struct {}"),
    ("/containers/create", {"Image": "busybox", "Healthcheck": {"Interval": 1.5}},
     _U + "number 1.5 into Go struct field HealthConfig.Healthcheck.Interval of type time.Duration"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Ulimits": 5}},
     _U + "number into Go struct field HostConfig.HostConfig.Ulimits of type []*units.Ulimit"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "x"}]}},
     _U + "string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Mounts": [{"Type": 5}]}},
     _U + "number into Go struct field Mount.HostConfig.Mounts.Type of type mount.Type"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [5]}}},
     _U + "number into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortBinding"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"NetworkMode": 5}},
     _U + "number into Go struct field HostConfig.HostConfig.NetworkMode of type container.NetworkMode"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"CapAdd": 5}},
     _U + "number into Go struct field HostConfig.HostConfig.CapAdd of type string"),
    ("/containers/create", {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "x"}}}},
     _U + "string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string"),
    ("/commit?container={id}", {"Env": "A=1"},
     _U + "string into Go struct field ContainerConfigWrapper.Env of type []string"),
    ("/networks/badnet-none/connect", {"Container": 5},
     _U + "number into Go struct field NetworkConnect.Container of type string"),
    ("/networks/badnet-none/connect", {"Container": "x", "EndpointConfig": {"Aliases": "a"}},
     _U + "string into Go struct field EndpointSettings.EndpointConfig.Aliases of type []string"),
    ("/networks/badnet-none/disconnect", {"Container": 5},
     _U + "number into Go struct field NetworkDisconnect.Container of type string"),
]


def test_wrong_types_are_gos_errors(engine: Engine) -> None:
    before = set(engine.docker("ps", "-aq").stdout.decode().split())   # (dockerd is the session's)
    cid = engine.docker("create", "busybox", "true").stdout.decode().strip()
    try:
        for path, body, expected in _CASES:
            status, message = _post(engine, path.format(id=cid), json.dumps(body).encode())
            assert message == expected, (engine.name, path, body, message)
            # dockerd 20.10 answers the decoding errors of the container bodies (create,
            # update, commit) with 500, Docker 23 on with 400
            container_body = path.startswith(("/containers/", "/commit"))
            want = 500 if engine.name == "dockerd" and container_body else 400
            assert status == want, (engine.name, path, body, status, message)
        assert b"badnet" not in engine.docker("network", "ls").stdout
        assert b"badvol" not in engine.docker("volume", "ls").stdout
        assert set(engine.docker("ps", "-aq").stdout.decode().split()) - before == {cid[:12]}
    finally:
        engine.docker("rm", "-f", cid)


def test_an_environment_variable_without_a_name(engine: Engine) -> None:
    """`Env: ["=x"]` is refused at create with dockerd's 400; dockyard made the container and
    every start of it failed in runc (a 500)."""
    before = engine.docker("ps", "-aq").stdout
    status, message = _post(engine, "/containers/create", json.dumps(
        {"Image": "busybox", "Cmd": ["true"], "Env": ["A=1", "=x"]}).encode())
    assert (status, message) == (400, "invalid environment variable: =x")
    assert engine.docker("ps", "-aq").stdout == before


# The bodies dockerd 20.10 checks with httputils.CheckForJSON (moby's api/server/router at
# v20.10.24: container create and update, commit, exec create and start, network create,
# connect and disconnect, volume create), each with a body it would take as JSON
_JSON_BODIES = [
    ("/containers/create", {"Image": "busybox", "Cmd": ["true"]}),
    ("/containers/{id}/update", {"CpuShares": 512}),
    ("/commit?container={id}", {}),
    ("/containers/{id}/exec", {"Cmd": ["true"]}),
    ("/exec/{exec}/start", {"Detach": True}),
    ("/networks/create", {"Name": "ctnet"}),
    ("/networks/ctnet-none/connect", {"Container": "{id}"}),
    ("/networks/ctnet-none/disconnect", {"Container": "{id}"}),
    ("/volumes/create", {"Name": "ctvol"}),
]


def test_json_bodies_need_a_json_content_type(engine: Engine) -> None:
    """A body sent as text/plain (or with no Content-Type, or one Go's mime.ParseMediaType
    cannot read) to an endpoint that takes JSON is dockerd's 400 `Content-Type specified (...)
    must be 'application/json'`, before anything else is looked at; its parameters aside
    (`; charset=utf-8`) application/json is taken. An empty body is dockerd's `got EOF while
    reading request body`, not a volume made from nothing. dockyard took any Content-Type, and
    made an anonymous volume of an empty body."""
    before = {kind: engine.docker(kind, "ls", "-q").stdout for kind in ("network", "volume")}
    images = engine.docker("images", "-aq").stdout
    cid = engine.docker("create", "busybox", "sleep", "30").stdout.decode().strip()
    try:
        engine.docker("start", cid)
        exec_id = engine.post(f"/containers/{cid}/exec", b'{"Cmd": ["true"]}')[1]["Id"]
        for path, body in _JSON_BODIES:
            path = path.format(id=cid, exec=exec_id)
            data = json.dumps(body).replace("{id}", cid).encode()
            for content_type in ("text/plain", "application/x-json", "application/json; charset",
                                 "application/json; a=1; a=1", None):
                headers = {} if content_type is None else {"Content-Type": content_type}
                status, answer = engine.request("POST", path, data, headers)
                assert (status, answer.get("message")) == (
                    400, f"Content-Type specified ({content_type or ''}) must be 'application/json'"), (
                    engine.name, path, content_type)
            if path.startswith(("/containers/create", "/containers/" + cid + "/update", "/commit")):
                continue    # create, update: dockerd 20.10's 500 "EOF" (dockyard's 400 is Docker
                # 23's); a commit's body is optional
            for empty in (b"", b" \n"):
                assert engine.request("POST", path, empty) == (
                    400, {"message": "got EOF while reading request body"}), (engine.name, path)
        assert engine.docker("images", "-aq").stdout == images      # no commit happened
        assert {kind: engine.docker(kind, "ls", "-q").stdout for kind in before} == before
        # the media type is read as Go reads it: its case and its parameters aside
        for content_type in ("Application/JSON; charset=utf-8", "application/json;", 'application/json; a=""'):
            status, answer = engine.request("POST", "/volumes/create", b'{"Name": "ctvol"}',
                                            {"Content-Type": content_type})
            assert (status, answer["Name"]) == (201, "ctvol"), (engine.name, content_type)
            engine.docker("volume", "rm", "ctvol")
        # no Content-Type and no body: nothing to check (a commit without changes)
        status, answer = engine.request("POST", f"/commit?container={cid}", None, {})
        assert status == 201, (engine.name, answer)
        engine.docker("rmi", answer["Id"])
    finally:
        engine.docker("rm", "-f", cid)


def test_a_start_with_a_body(engine: Engine) -> None:
    """API 1.24 took away the HostConfig a start's body carried: dockerd 20.10 refuses a body of
    more than 7 bytes (moby: "a non-nil json object is at least 7 characters"), whatever the
    container; dockyard started the container and ignored it."""
    cid = engine.docker("create", "busybox", "true").stdout.decode().strip()
    try:
        for target in (cid, "no-such-container"):
            assert engine.post(f"/containers/{target}/start", b'{"Binds": ["/:/host"]}') == (400, {
                "message": "starting container with non-empty request body was deprecated since API v1.22 "
                           "and removed in v1.24"}), engine.name
        assert engine.docker("inspect", "-f", "{{.State.Status}}", cid).stdout == b"created\n"
        assert engine.post(f"/containers/{cid}/start", b"{}")[0] == 204   # 7 bytes or less: no body
    finally:
        engine.docker("rm", "-f", cid)
