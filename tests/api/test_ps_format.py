"""The in-process `dockyard ps --format/-s/-n/-l` against the docker CLI's own formatting of the
same store through `dockyard serve` (the docker CLI is the reference formatter)."""

from __future__ import annotations

import re
import subprocess

from tests.dockerd import DOCKER_CLI


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The docker 20.10 CLI, as the comparison's reference (`docker` on PATH may be another:
    this machine's /usr/local/bin has a docker 28 CLI, whose ps rows have a Platform field)."""
    return subprocess.run([DOCKER_CLI, *args], env=env, capture_output=True, check=True, timeout=60)

TEMPLATES = ["{{json .}}", "{{.ID}} {{.Names}} {{.Command}} {{.State}} {{.Labels}} {{.Networks}}",
             'table {{.Names}}\t{{.Image}}\t{{.Label "a"}}\t{{.LocalVolumes}}\t{{.Mounts}}',
             "table", "{{.CreatedAt}} {{.Size}}"]


def test_in_process_ps_formats_as_the_docker_cli(server, cli_env, dockyard, busybox) -> None:  # noqa: ANN001
    """The in-process `dockyard ps` (no flags for --format, -s, -n, -l until now) prints what the
    docker CLI prints from the same store through serve."""
    dockyard("run", "-d", "--name", "one", "-l", "a=1", "-l", "b=2", "-v", "data:/data",
             "busybox", "sleep", "100")
    dockyard("create", "--name", "two", "busybox", "sh", "-c", "echo a long command line here")
    try:
        _compare(cli_env, dockyard)
    finally:
        dockyard("rm", "-f", "one", "two")


def _compare(cli_env, dockyard) -> None:  # noqa: ANN001
    for flags in (["-a"], ["-s"], ["-l"]):
        for template in TEMPLATES:
            args = ["ps", *flags, "--format", template]
            mine = dockyard(*args).stdout
            # the docker 20.10 CLI joins the labels in Go's map order, which is random; dockyard sorts
            theirs = docker(cli_env, *args).stdout.decode().replace("b=2,a=1", "a=1,b=2")
            if "Size" in template or "-s" in flags:    # the container's log grows meanwhile
                mine, theirs = mine.split("B (virtual")[-1], theirs.split("B (virtual")[-1]
            # the two calls a second apart: "9 seconds" then "10 seconds" also widens the
            # CREATED column of a table, so columns are compared by their order, not their width
            mine, theirs = (re.sub(r" {2,}", "  ", re.sub(r"\b(\d+ seconds?|Less than a second)\b", "<t>", text))
                            for text in (mine, theirs))
            assert mine == theirs, (args, mine, theirs)
    assert dockyard("ps", "-s").stdout.splitlines()[0].endswith("NAMES     SIZE")
    r = dockyard("ps", "--format", '{{.Nope "x"}}', check=False)
    assert (r.returncode, r.stderr) == (1, 'Error: failed to execute template: template: :1:2: executing "" at '
                                           "<.Nope>: can't evaluate field Nope in type *formatter.ContainerContext\n")


def test_in_process_templates_as_the_docker_cli_through_serve(server, cli_env, dockyard, busybox) -> None:  # noqa: ANN001
    """Where dockyard's CLI formats (in process), it prints what the docker 20.10 CLI prints from
    the same store through serve, where the docker CLI formats serve's JSON: strict rows, the
    typed inspect and its JSON fallback, the 404 words."""
    dockyard("create", "--name", "tpl", "busybox", "true")
    dockyard("volume", "create", "tplv")
    try:
        for args in (["ps", "-a", "--format", "{{.Nope}}"], ["images", "--format", "{{.Repository.X}}"],
                     ["inspect", "-f", "{{.Config.Env}} {{.Config.Labels}} {{.State.Health}} {{.HostConfig.Binds}}", "tpl"],
                     ["inspect", "-f", "{{.Nope}}", "tpl"], ["inspect", "-f", "{{.Config.Cmd}} {{.RootFS.Type}}", "busybox"],
                     ["volume", "inspect", "-f", "{{.Status}} {{.Labels.x}} {{.Nope}}", "tplv"],
                     ["info", "--format", "{{.OSType}} {{.Nope}}"], ["rmi", "nosuch"], ["volume", "rm", "nosuch"]):
            ours = dockyard.run(*args, check=False)
            theirs = subprocess.run([DOCKER_CLI, *args], env=cli_env, capture_output=True, timeout=60)
            assert (ours.returncode, ours.stdout, ours.stderr.removeprefix("Error: ")) == \
                (theirs.returncode, theirs.stdout.decode(), theirs.stderr.decode().removeprefix("Error: ")), args
    finally:
        dockyard("rm", "tpl")
        dockyard("volume", "rm", "tplv")
