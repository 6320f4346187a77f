"""`dockyard images/image inspect/history/tag/rmi` (and the registry, system and container-file commands) as clients of `dockyard serve` (`DOCKYARD_HOST`): each
prints what it prints in process on the same store, exit codes and one-line errors included."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor


def _moment_free(text: str) -> str:
    """`3 seconds ago` as `T ago` and the table's padding as two spaces: the two runs are a
    moment apart."""
    return re.sub(r" {2,}", "  ", re.sub(r"(Less than a second|About a minute|an? \w+|\d+ \w+?s?)(?= ago)", "T",
                                         text))


def test_image_commands_as_a_client(server, dockyard, busybox) -> None:  # noqa: ANN001
    client = {"DOCKYARD_HOST": server.url}

    def same(*args: str, edit=lambda text: text) -> None:  # noqa: ANN001
        # (the two at once: each command given here only reads, or fails)
        with ThreadPoolExecutor(2) as pool:
            local = pool.submit(dockyard.run, *args, check=False)
            remote = pool.submit(dockyard.run, *args, env=client, check=False)
            local, remote = local.result(), remote.result()
        assert (local.returncode, _moment_free(local.stdout), local.stderr) == \
            (remote.returncode, _moment_free(remote.stdout), remote.stderr), args

    dockyard("tag", "busybox", "localhost:5000/one/two:three")
    dockyard("tag", "busybox", "dangling-soon")
    dockyard("tag", "busybox", "dangling-soon:2")
    for args in (["history", "busybox"], ["history", "--no-trunc", "-q", "busybox"],
                 ["image", "history", "--human=false", "busybox"], ["history", "--format", "json", "busybox"],
                 ["history", "nothing-here"], ["images"], ["images", "-a"], ["images", "-q"],
                 ["images", "--digests", "--no-trunc"],
                 ["images", "--format", "json"], ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
                 ["images", "busybox"], ["images", "localhost:5000/*/*"], ["images", "nothing"],
                 ["image", "ls", "-q", "--no-trunc"],
                 ["image", "inspect", "busybox"], ["image", "inspect", "-f", "{{.Id}} {{.RepoTags}}", "busybox"],
                 ["image", "inspect", "busybox", "nothing-here"], ["image", "inspect", "nothing-here"],
                 ["tag", "nothing-here", "x"], ["tag", "busybox", "Bad:Name"],
                 ["tag", "busybox", "x@sha256:" + "0" * 64], ["rmi", "nothing-here"]):
        same(*args)

    # the ones that change the store: in process on one name, as a client on another
    for local, remote in ((["tag", "busybox", "l1"], ["tag", "busybox", "r1"]),
                          (["tag", busybox[7:19], "localhost:5000/l:2"], ["tag", busybox[7:19], "localhost:5000/r:2"]),
                          (["rmi", "l1", "nothing", "localhost:5000/l:2"], ["rmi", "r1", "nothing", "localhost:5000/r:2"])):
        a = dockyard.run(*local, check=False)
        b = dockyard.run(*remote, env=client, check=False)
        assert (a.returncode, a.stdout.replace("l1", "r1").replace("/l:", "/r:"), a.stderr) == \
            (b.returncode, b.stdout, b.stderr), (local, remote)
    assert "r1" not in dockyard("images").stdout
    # save: the same archive both ways, to a file and to a pipe; a missing image fails alike
    for args in (["save", "busybox", "localhost:5000/one/two:three"], ["save", "-o", "/dev/stdout", "busybox"],
                 ["save", "busybox", "nothing-here"]):
        local = dockyard.run(*args, check=False)
        remote = dockyard.run(*args, env=client, check=False)
        assert (local.returncode, local.stdout_bytes, local.stderr) == \
            (remote.returncode, remote.stdout_bytes, remote.stderr), args
    # removing an image: its untags and deletes, in order
    dockyard("tag", "busybox", "gone:1")
    same("rmi", busybox)   # in use by tags: refused the same way
    removed = dockyard.run("rmi", "-f", busybox, env=client)
    assert removed.stdout.startswith("Untagged: ") and f"Deleted: {busybox}\n" in removed.stdout, removed.stdout
    assert dockyard("images", "-q").stdout == ""


def test_import_as_a_client(server, dockyard, busybox_tar, tmp_path) -> None:  # noqa: ANN001
    client = {"DOCKYARD_HOST": server.url}
    for args in (["import", str(tmp_path / "none.tar")], ["import", str(tmp_path)]):
        local, remote = (dockyard.run(*args, env=env, check=False) for env in ({}, client))
        assert (local.returncode, local.stdout, local.stderr) == (remote.returncode, remote.stdout, remote.stderr), args
    ids = [dockyard.run("import", "-m", "hi", "-c", "ENV A=1", str(busybox_tar), "imported:r", env=client).stdout,
           dockyard.run("import", "-", "imported:s", env=client, input=busybox_tar.read_bytes()).stdout]
    for image_id, name in zip(ids, ("imported:r", "imported:s")):
        assert image_id == dockyard("image", "inspect", "-f", "{{.Id}}", name).stdout, (image_id, name)
    info = json.loads(dockyard("image", "inspect", "imported:r").stdout)[0]
    assert "A=1" in info["Config"]["Env"] and info["RootFS"] == json.loads(
        dockyard("image", "inspect", "imported:s").stdout)[0]["RootFS"]


def test_system_df_and_builder_prune_as_a_client(server, dockyard, busybox, tmp_path) -> None:  # noqa: ANN001
    client = {"DOCKYARD_HOST": server.url}
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=cache,target=/c echo hi > /c/f\n"
                                         "RUN echo layer > /l\n")
    bk = {"DOCKER_BUILDKIT": "1"}
    for args in (["system", "df"], ["builder", "prune", "-f", "--keep-storage", "1g"],
                 ["builder", "prune", "-f", "--filter", "colour=red"]):
        local = dockyard.run(*args, check=False)
        remote = dockyard.run(*args, env=client, check=False)
        assert (local.returncode, local.stdout, local.stderr) == (remote.returncode, remote.stdout, remote.stderr), args
    # the same cache made twice (its records are keyed by content): pruned once each way
    pruned = []
    for env in ({}, client):
        dockyard("build", "-q", str(tmp_path), env=bk)
        df = [dockyard.run("system", "df", env=e).stdout for e in ({}, client)]
        assert df[0] == df[1] and "Build Cache" in df[0]
        pruned.append(dockyard.run("builder", "prune", "-a", "-f", env=env))
    assert pruned[0].stdout == pruned[1].stdout and "Deleted build cache objects:" in pruned[0].stdout, pruned


def test_push_pull_and_load_as_a_client(server, dockyard, busybox, registry, tmp_path) -> None:  # noqa: ANN001
    # each way on its own names of the same image, printing the same lines (the daemon's JSON
    # messages as the docker CLI prints them on a pipe)
    client = {"DOCKYARD_HOST": server.url}
    ways = {"l": {}, "r": client}
    for way in ways:
        dockyard("tag", "busybox", f"{registry}/{way}:1")
    out = {}
    for way, env in ways.items():
        out[way] = dockyard.run("push", f"{registry}/{way}:1", env=env, check=False)
    for way, env in ways.items():
        dockyard("rmi", f"{registry}/{way}:1")
    for way, env in ways.items():   # nothing of it left in the store: pulled in full each time
        dockyard("rmi", "busybox", check=False)
        pulled = dockyard.run("pull", f"{registry}/{way}:1", env=env, check=False)
        dockyard("save", "-o", str(tmp_path / f"{way}.tar"), f"{registry}/{way}:1")
        dockyard("rmi", f"{registry}/{way}:1")
        loaded = dockyard.run("load", "-i", str(tmp_path / f"{way}.tar"), env=env, check=False)
        missing = dockyard.run("pull", f"{registry}/{way}-none", env=env, check=False)
        bad = dockyard.run("load", env=env, input=b"not a tar" * 100, check=False)
        dockyard("rmi", f"{registry}/{way}:1")
        out[way] = [out[way], pulled, loaded, missing, bad]
        assert pulled.returncode == 0 and loaded.returncode == 0, (pulled, loaded)
    # (the second push's layer is mounted from the first's repository in the registry)
    def same_names(text: str, way: str) -> str:
        return re.sub(rf"(/|from ){way}\b", r"\1W", re.sub(r"Mounted from l$", "Pushed", text, flags=re.M))

    local, remote = ([(r.returncode, same_names(r.stdout, way), same_names(r.stderr, way)) for r in out[way]]
                     for way in ways)
    assert local == remote
    assert "Pull complete" in local[1][1] and "Loaded image: " in local[2][1] and local[3][0] == 1


def test_login_push_pull_logout_as_a_client(server, dockyard, busybox, tmp_path) -> None:  # noqa: ANN001
    # as the docker CLI: the daemon checks the credentials (POST /auth), the client keeps them in
    # its config.json and sends them with a push or pull (X-Registry-Auth)
    from tests.registry.registryd import RegistryServer

    registry = RegistryServer(tmp_path / "registry", htpasswd=("bob", "pa55-word")).start()
    try:
        client = {"DOCKYARD_HOST": server.url, "DOCKER_CONFIG": str(tmp_path / "config")}
        host = registry.host
        bad = dockyard.run("login", "-u", "bob", "--password-stdin", host, input=b"nope\n", env=client, check=False)
        assert bad.returncode == 1 and "401 Unauthorized" in bad.stderr and bad.stderr.count("\n") == 1, bad
        assert not (tmp_path / "config" / "config.json").exists()
        good = dockyard.run("login", "-u", "bob", "--password-stdin", host, input=b"pa55-word\n", env=client)
        assert good.stdout == "Login Succeeded\n"
        again = dockyard.run("login", host, env=client)
        assert again.stdout == "Authenticating with existing credentials...\nLogin Succeeded\n"
        name = f"{host}/private/bb:v1"
        dockyard("tag", "busybox", name)
        assert "v1: digest: sha256:" in dockyard.run("push", name, env=client).stdout
        dockyard("rmi", name)
        dockyard("rmi", "busybox")
        assert dockyard.run("pull", name, env=client).stdout.endswith(f"\n{name}\n")
        assert dockyard("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == busybox
        out = dockyard.run("logout", host, env=client).stdout
        assert out == f"Removing login credentials for {host}\n"
        dockyard("rmi", name)
        denied = dockyard.run("pull", name, env=client, check=False)
        assert denied.returncode == 1 and "no basic auth credentials" in denied.stderr, denied
    finally:
        registry.cleanup()


def test_diff_export_and_commit_as_a_client(server, dockyard, busybox, tmp_path) -> None:  # noqa: ANN001
    import tarfile

    client = {"DOCKYARD_HOST": server.url}
    dockyard("run", "--name", "ct", "--network", "none", "busybox", "sh", "-c",
             "mkdir /new && echo x > /new/f && rm /bin/true && echo y >> /etc/passwd")
    try:
        for args in (["diff", "ct"], ["diff", "nothing-here"], ["export", "nothing-here"],
                     ["commit", "nothing-here"], ["commit", "ct", "Bad:Name"], ["commit", "ct", "x@sha256:" + "0" * 64]):
            local = dockyard.run(*args, check=False)
            remote = dockyard.run(*args, env=client, check=False)
            assert (local.returncode, local.stdout, local.stderr) == (remote.returncode, remote.stdout, remote.stderr), args
        assert "A /new/f\n" in dockyard("diff", "ct", env=client).stdout
        for way, env in (("l", {}), ("r", client)):
            dockyard("export", "-o", str(tmp_path / f"{way}.tar"), "ct", env=env)
        assert (tmp_path / "l.tar").read_bytes() == (tmp_path / "r.tar").read_bytes()
        with tarfile.open(tmp_path / "r.tar") as tar:
            assert tar.extractfile("new/f").read() == b"x\n"
        # the same commit (the same config, layer and time: its ID) both ways
        ids = [dockyard.run("commit", "-m", "msg", "-a", "me", "-c", "ENV A=1", "-c", "LABEL b=2", "ct", f"{way}:1",
                            env=env).stdout for way, env in (("l", {}), ("r", client))]
        local, remote = (json.loads(dockyard("image", "inspect", f"{way}:1").stdout)[0] for way in "lr")
        assert (remote["Author"], remote["Config"]["Labels"], "A=1" in remote["Config"]["Env"]) == ("me", {"b": "2"}, True)
        for key in ("Author", "Comment", "Config", "RootFS", "Parent"):
            assert local[key] == remote[key], key
        history = [dockyard("history", "--format", "{{.Comment}}", f"{way}:1").stdout for way in "lr"]
        assert history[0] == history[1] and history[0].startswith("msg\n"), history
    finally:
        dockyard("rm", "-f", "ct", check=False)
