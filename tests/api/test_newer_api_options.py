"""Create options of API versions newer than dockerd 20.10's 1.41, which the docker 28 CLI (the
first `docker` on this machine's PATH) sends to dockyard serve, which answers 1.47. dockerd 20.10
cannot be the reference: each test names the spec text or moby behaviour it matches.

- HostConfig.Annotations (API 1.43, the spec: "Arbitrary non-identifying metadata attached to
  container and provided to the runtime when the container is started"): the OCI spec's
  annotations, and shown by inspect (moby: omitempty) and, from API 1.46, in the list's rows;
  an empty key refused in moby's words.
  moby's create route ignores them for a client of an older version (container_routes.go:
  `hostConfig.Annotations = nil` below 1.43).
- VolumeOptions.Subpath (API 1.45: "Source path inside the volume. Must be relative without any
  back traversals"): moby refuses it below 1.45 ("VolumeOptions.Subpath needs API v1.45 or
  newer"), at create an absolute or `..` one and one of an anonymous volume (volume/mounts'
  linux parser), and at start one that does not exist ("cannot access path ...") or whose links
  lead out of the volume ("path ... escapes base ...", internal/safepath). The image's content
  at the mount point goes into an empty subpath at create (moby's populateVolume sets the mount
  up, the subpath checked, then copies as into an empty volume), and a missing subpath then
  fails the create.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.api.conftest import Server

DOCKER28 = "/usr/local/bin/docker"


def _docker(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([DOCKER28, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, (args, out.stderr)
    return out


def _post(server: Server, path: str, body: dict) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    reply = server.raw(f"POST {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    head, _, rest = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(rest)


def _get(server: Server, path: str) -> dict:
    reply = server.raw(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    return json.loads(reply.partition(b"\r\n\r\n")[2])


def test_annotations_reach_the_runtime_and_inspect(server, cli_env, store_root, busybox) -> None:  # noqa: ANN001
    cid = _docker(cli_env, "create", "--annotation", "org.example.a=b", "--annotation", "flag",
                  "busybox", "true").stdout.strip()
    want = {"org.example.a": "b", "flag": ""}       # the CLI's map option: KEY alone is empty
    assert json.loads(_docker(cli_env, "inspect", "-f", "{{json .HostConfig.Annotations}}", cid).stdout) == want
    _docker(cli_env, "start", "-a", cid)
    spec = json.loads((store_root / "containers" / cid / "config.json").read_text())
    assert spec["annotations"] == want              # what runc was given
    empty = _docker(cli_env, "create", "--annotation", "=v", "busybox", "true", check=False)
    assert "invalid Annotations: the empty string is not permitted as an annotation key" in empty.stderr
    plain = _docker(cli_env, "create", "busybox", "true").stdout.strip()
    assert "Annotations" not in _get(server, f"/v1.47/containers/{plain}/json")["HostConfig"]
    # the list's rows have them from 1.46 (moby's route drops them before), omitempty
    rows = {v: {c["Id"]: c["HostConfig"] for c in _get(server, f"/v{v}/containers/json?all=1")}
            for v in ("1.45", "1.46")}
    # (no --network is "default", as dockerd shows it: 20.10's and moby's create today)
    assert rows["1.46"][cid] == {"NetworkMode": "default", "Annotations": want}
    assert rows["1.45"][cid] == rows["1.46"][plain] == {"NetworkMode": "default"}


def test_older_clients_do_not_get_them(server, busybox) -> None:  # noqa: ANN001
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Annotations": {"a": "b"}}}
    status, reply = _post(server, "/v1.42/containers/create", body)
    assert status == 201, reply                     # ignored, as moby's route does below 1.43
    assert "Annotations" not in _get(server, f"/v1.47/containers/{reply['Id']}/json")["HostConfig"]
    mount = {"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"Subpath": "sub"}}
    status, reply = _post(server, "/v1.44/containers/create",
                          {"Image": "busybox", "HostConfig": {"Mounts": [mount]}})
    assert (status, reply["message"]) == (400, "VolumeOptions.Subpath needs API v1.45 or newer")


def test_volume_subpath(server, cli_env, busybox, tmp_path: Path) -> None:  # noqa: ANN001
    _docker(cli_env, "volume", "create", "v1")
    data = Path(_docker(cli_env, "volume", "inspect", "-f", "{{.Mountpoint}}", "v1").stdout.strip())
    (data / "sub" / "deep").mkdir(parents=True)
    (data / "sub" / "deep" / "f").write_text("inside\n")
    (data / "inner").symlink_to("sub/deep")                 # a link that stays in the volume
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("host secret\n")
    (data / "abs").symlink_to(outside)                      # links that lead out of it
    (data / "up").symlink_to("../../../../../../../../.." + str(outside))

    def run(subpath: str, *cmd: str) -> subprocess.CompletedProcess:
        return _docker(cli_env, "run", "--rm", "--mount", f"type=volume,src=v1,dst=/v,volume-subpath={subpath}",
                       "busybox", *cmd, check=False)

    assert run("sub/deep", "cat", "/v/f").stdout == "inside\n"
    assert run("inner", "cat", "/v/f").stdout == "inside\n"
    written = run("sub", "sh", "-c", "echo new > /v/n; ls /v")
    assert written.stdout.split() == ["deep", "n"] and (data / "sub" / "n").read_text() == "new\n"
    for subpath in ("abs", "up", "up/f"):
        out = run(subpath, "cat", "/v/f")
        assert out.returncode != 0 and "host secret" not in out.stdout, out
        assert f"path {subpath} escapes base {data}" in out.stderr, out.stderr
    missing = run("nope", "true")
    assert missing.returncode != 0
    assert f"cannot access path {data}/nope" in missing.stderr, missing.stderr
    for subpath in ("../x", "sub/../../x", "/sub"):
        out = run(subpath, "true")
        assert 'invalid mount config for type "volume": subpath must be a relative path within the volume' \
            in out.stderr, out.stderr
    anonymous = _docker(cli_env, "run", "--rm", "--mount", "type=volume,dst=/v,volume-subpath=sub",
                        "busybox", "true", check=False)
    assert "must not set Subpath when using anonymous volumes" in anonymous.stderr, anonymous.stderr
    cid = _docker(cli_env, "create", "--mount", "type=volume,src=v1,dst=/v,volume-subpath=sub/deep",
                  "busybox", "true").stdout.strip()
    mounts = json.loads(_docker(cli_env, "inspect", "-f", "{{json .HostConfig.Mounts}}", cid).stdout)
    assert mounts == [{"Type": "volume", "Source": "v1", "Target": "/v", "VolumeOptions": {"Subpath": "sub/deep"}}]
    _docker(cli_env, "rm", cid)


def test_own_cli_in_process(dockyard, store_root, busybox) -> None:  # noqa: ANN001
    """dockyard's own run takes --annotation and --mount's volume-subpath, as the docker CLI."""
    dockyard("volume", "create", "v2")
    data = Path(dockyard("volume", "inspect", "-f", "{{.Mountpoint}}", "v2").stdout.strip())
    (data / "sub").mkdir()
    (data / "sub" / "f").write_text("in sub\n")
    out = dockyard("run", "--name", "own", "--annotation", "k=v", "--mount",
                   "type=volume,src=v2,dst=/v,volume-subpath=sub,readonly", "busybox", "cat", "/v/f")
    assert out.stdout == "in sub\n"
    assert json.loads(dockyard("inspect", "-f", "{{json .HostConfig.Annotations}}", "own").stdout) == {"k": "v"}
    cid = dockyard("inspect", "-f", "{{.Id}}", "own").stdout.strip()
    assert json.loads((store_root / "containers" / cid / "config.json").read_text())["annotations"] == {"k": "v"}
    dockyard("rm", "own")


def test_volume_subpath_copy_up(cli_env, busybox) -> None:  # noqa: ANN001
    _docker(cli_env, "volume", "create", "v3")
    data = Path(_docker(cli_env, "volume", "inspect", "-f", "{{.Mountpoint}}", "v3").stdout.strip())
    (data / "empty").mkdir()
    (data / "full").mkdir()
    (data / "full" / "mine").write_text("kept\n")
    (data / "top").write_text("volume root\n")

    def run(subpath: str) -> subprocess.CompletedProcess:
        return _docker(cli_env, "run", "--rm", "--mount", f"type=volume,src=v3,dst=/etc,volume-subpath={subpath}",
                       "busybox", "true", check=False)

    assert run("empty").returncode == 0
    assert (data / "empty" / "passwd").read_text().startswith("root:")
    assert run("full").returncode == 0
    assert sorted(p.name for p in (data / "full").iterdir()) == ["mine"]
    assert not (data / "passwd").exists()            # the volume's root is not copied into
    missing = run("nope")
    assert missing.returncode != 0 and f"cannot access path {data}/nope" in missing.stderr, missing.stderr
    assert _docker(cli_env, "ps", "-aq").stdout == ""   # the failed create left no container
