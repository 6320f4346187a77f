"""The CLI as a user types it, next to the docker 20.10 CLI (/usr/bin/docker) on the reference
dockerd (the session's `dockerd` fixture): flags, exit codes and output lines. dockyard's one
difference by design: a mistake's line starts with `Error: `."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO, at_once
from tests.dockerd import DOCKER_CLI


def _as_docker(result) -> tuple[int, str, str]:  # noqa: ANN001
    """dockyard's answer in the docker CLI's words: its name, and no `Error: ` before a flag's."""
    return (result.returncode, result.stdout.replace("dockyard", "docker"),
            result.stderr.replace("dockyard", "docker").removeprefix("Error: "))


def test_filter_flags_as_docker(dockerd, dockyard, busybox, busybox_tar) -> None:  # noqa: ANN001
    # `images -f/--filter` (dockyard's images had none: 'unknown shorthand flag'); a filter
    # without '=' is the flag's error, status 125, named as the docker CLI names the flag
    # (dockyard's ps, network ls, volume ls and events said 'bad format of filter', status 1)
    for args in (["images", "-f", "bogus"], ["images", "--filter=x"], ["ps", "-f", "bogus"],
                 ["network", "ls", "-f", "x"], ["volume", "ls", "--filter", "x"], ["events", "-f", "x"],
                 ["image", "prune", "--filter", "x"],
                 ["images", "-f", "bogus=1"]):
        theirs, ours = at_once(lambda: dockerd(*args, check=False), lambda: dockyard.run(*args, check=False))
        theirs = (theirs.returncode, theirs.stdout, theirs.stderr.removeprefix("Error response from daemon: "))
        assert _as_docker(ours) == theirs, args
    # an image with no name (dangling), beside busybox: each side's own import (with a label of
    # this test's: the session's dockerd may hold other tests' dangling images)
    theirs_id, ours_id = (side("import", "-c", "LABEL filters.as.docker=1", str(busybox_tar)).stdout.strip()[7:19]
                          for side in (dockerd, dockyard))
    for args, expect in ((["images", "-q", "-f", "dangling=true", "-f", "label=filters.as.docker"], "{id}\n"),
                         (["images", "-f", "dangling=false", "-f", "reference=busy*", "--format", "{{.Repository}}"],
                          "busybox\n"),
                         # the argument is one more reference: either matches
                         (["image", "ls", "--filter", "reference=nothing", "--format", "{{.Repository}}", "busybox"],
                          "busybox\n"),
                         (["images", "-f", "reference=busybox", "--format", "{{.Tag}}", "busybox:latest"], "latest\n")):
        theirs, ours = at_once(lambda: dockerd(*args), lambda: dockyard(*args))
        assert (theirs.stdout, ours.stdout) == (expect.format(id=theirs_id), expect.format(id=ours_id)), args
    dockerd("rmi", theirs_id)


def test_inspect_type_and_order_as_docker(dockerd, dockyard, busybox) -> None:  # noqa: ANN001
    # `inspect --type container|image|network|volume` (dockyard had no --type: 'unknown flag'),
    # and without it a name is looked up as a container, an image, a network, then a volume
    # (dockyard looked at containers and images only: 'No such object: NET')
    net = "inspect-as-docker"
    at_once(lambda: dockerd("network", "create", net), lambda: dockyard("network", "create", net))
    try:
        for args in (["inspect", "--type", "image", "-f", "{{.Os}}", "busybox"],
                     ["inspect", "--type", "container", "busybox"], ["inspect", "--type=volume", "nosuch"],
                     ["inspect", "--type", "foo", "busybox"], ["inspect", "-f", "{{.Name}} {{.Driver}}", net],
                     ["inspect", "--type", "network", "-f", "{{.Name}}", net], ["inspect", "-f", "{{.Os}}", "busybox"],
                     ["inspect", "nosuch"], ["container", "inspect", "busybox"],
                     # a key of a nil string map (busybox has no labels): no value (dockyard: 'nil
                     # pointer evaluating interface {}.x', status 1)
                     ["image", "inspect", "-f", "{{.Config.Labels.x}} {{.Config.Volumes.x}}", "busybox"]):
            theirs, ours = at_once(lambda: dockerd(*args, check=False), lambda: dockyard.run(*args, check=False))
            assert _as_docker(ours) == (theirs.returncode, theirs.stdout, theirs.stderr.removeprefix("Error: ")), args
    finally:
        at_once(lambda: dockerd("network", "rm", net), lambda: dockyard("network", "rm", net))
    # docker's swarm and plugin types: dockyard has no such objects (dockerd: 'This node is not a
    # swarm manager...'), refused in one line
    assert dockyard.run("inspect", "--type", "node", "x", check=False).stderr == \
        "Error: --type node is not supported by dockyard: it has no swarm or plugins\n"


def test_a_rows_json_as_docker(dockerd, dockyard, busybox) -> None:  # noqa: ANN001
    # {{json .}} of a list's row is Go's JSON of the docker CLI's map: keys sorted, `<` `>` `&`
    # escaped (dockyard: a row's own order, `<none>` as is); network ls has IPv6 and CreatedAt as
    # Go's time String() (dockyard: no IPv6, RFC 3339), volume ls Links and Size 'N/A' (dockyard:
    # none: '<no value>'), images' VirtualSize 4 digits ('1.984MB')
    name = "row-json-as-docker"
    for kind in ("network", "volume"):
        at_once(lambda: dockerd(kind, "create", name), lambda: dockyard(kind, "create", name))
    go_time = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d*[1-9])? \+0000 UTC"
    try:
        for args in (["network", "ls", "-f", f"name={name}"], ["volume", "ls", "-f", f"name={name}"],
                     ["images", "busybox"]):
            theirs, ours = at_once(lambda: dockerd(*args, "--format", "{{json .}}"),
                                   lambda: dockyard(*args, "--format", "{{json .}}"))
            # each side's own IDs, paths and times
            same = [re.sub(r'"(ID|Mountpoint|CreatedAt|CreatedSince)":"[^"]*"', r'"\1":""', side.stdout)
                    for side in (theirs, ours)]
            assert same[0] == same[1] and same[0].count("\n") == 1, args
            created = re.search(r'"CreatedAt":"([^"]*)"', ours.stdout)
            assert created is None or re.fullmatch(go_time, created.group(1)), ours.stdout
        theirs, ours = at_once(lambda: dockerd("images", "--format", "{{json .Digest}}", "busybox"),
                               lambda: dockyard("images", "--format", "{{json .Digest}}", "busybox"))
        assert theirs.stdout == ours.stdout == "\"<none>\"\n"  # the CLI's json function: no escaping
    finally:
        for kind in ("network", "volume"):
            at_once(lambda: dockerd(kind, "rm", name), lambda: dockyard(kind, "rm", name))


def test_templates_and_words_as_docker(dockerd, dockyard, busybox) -> None:  # noqa: ANN001
    # dockyard's rows were maps: a field docker's row lacks printed `<no value>`, status 0; an
    # unclosed action printed as text; inspect's null slices printed `<nil>`; a missing field of
    # inspect `<no value>` (docker: the typed struct, then the JSON with missingkey=error)
    name = "templates-as-docker"
    for kind in ("network", "volume"):
        at_once(lambda: dockerd(kind, "create", name), lambda: dockyard(kind, "create", name))
    at_once(lambda: dockerd("create", "--name", name, "busybox", "sleep", "1"),
            lambda: dockyard("create", "--name", name, "busybox", "sleep", "1"))
    ps, listed = ["ps", "-a", "-f", f"name={name}", "--format"], [f"name={name}", "--format"]
    try:
        for args in ([*ps, "{{.Nope}}"], [*ps, "table {{.Names}}\t{{.Nope}}"], [*ps, "{{.Platform}}"],
                     [*ps, "{{.Names.X}}"], [*ps, "{{.Label}}"], [*ps, "{{json"], [*ps, "{{.Names}"],
                     [*ps, "{{.Names | foo}}"], [*ps, "{{- .Names -}} {{/* c */}}x"],
                     ["ps", "-a", "-f", "name=nothing", "-q", "--format", "{{.Nope}}"],
                     ["images", "--format", "{{.Nope}}", "busybox"], ["images", "--format", "{{json ."],
                     ["images", "--format", "table {{.Repository.X}}"], ["images", "--format", "{{.Tag \"x\"}}"],
                     ["images", "--format", "{{.Nope}}", "nothing"], ["history", "--format", "{{.Nope}}", "busybox"],
                     ["network", "ls", "-f", *listed, "{{.Nope}}"], ["volume", "ls", "-f", *listed, "{{.Nope}}"],
                     ["volume", "ls", "-f", *listed, '{{.Label "x"}}|{{.Links}}'],
                     ["inspect", "-f", "{{.Nope}}", name], ["inspect", "-f", "{{.State.Health.Status}}", name],
                     ["inspect", "-f", "{{json .State.Health}} {{.Node}} {{.HostConfig.Binds}} {{.ExecIDs}}", name],
                     ["inspect", "-f", "{{.Config.Env}} {{.Config.Labels}} {{.Config.Labels.x}}", "busybox"],
                     ["inspect", "-f", "{{.Config.Volumes}} {{.RootFS.Layers}} {{.Metadata.LastTagTime.X}}", "busybox"],
                     ["inspect", "-f", "{{.Config}}", "busybox"], ["inspect", "-f", "{{.Os}} {{.ID.X}}", "busybox"],
                     ["inspect", "-f", "{{.Id}}\\t{{.Nope}}", "busybox"], ["container", "inspect", "-f", "{{json .", name],
                     ["inspect", "-f", "{{.Os}}", "busybox", name, "nosuch"],
                     ["network", "inspect", "-f", "{{.Options}} {{.Peers}} {{.ConfigFrom}} {{.IPAM.Nope}}", name],
                     ["volume", "inspect", "-f", "{{.Status}} {{.UsageData}} {{.Labels.x}}", name],
                     ["volume", "inspect", "-f", "{{.UsageData.Size}}", name, "nosuch"],
                     ["inspect", "-f", "{{.Nope}}", name, "--type", "volume"],
                     # typed roots, Go's partial output then a newline, a template's name, status 64,
                     # no `\t` replaced, version through a tabwriter
                     ["version", "--format", "{{.Client.Os}} {{.Nope}}"], ["version", "--format", "{{json"],
                     ["version", "--format", "{{.Client.Os}}\t{{.Client.Arch}}\\t"],
                     ["info", "--format", "{{.OSType}} {{.Name.X}}"], ["info", "--format", "{{.Nope}}"],
                     ["info", "--format", "{{.OSType"],
                     ["events", "--since", "1", "--until", "2", "--format", "{{.Nope}}"],
                     ["events", "--since", "1", "--until", "2", "--format", "{{.Scope}"]):
            theirs, ours = at_once(lambda: dockerd(*args, check=False), lambda: dockyard.run(*args, check=False))
            assert _as_docker(ours) == (theirs.returncode, theirs.stdout, theirs.stderr), args
        # the docker CLI's words for a 404 of these calls (its own `Error: `): the name as given
        # (dockyard: 'No such image: nosuch:latest', 'get nosuch: no such volume', 'network
        # nosuch not found')
        for args in (["rmi", "nosuch"], ["image", "inspect", "nosuch"], ["volume", "rm", "nosuch"],
                     ["network", "rm", "nosuch"], ["volume", "inspect", "nosuch"]):
            theirs, ours = at_once(lambda: dockerd(*args, check=False), lambda: dockyard.run(*args, check=False))
            assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
        # on one stream (a terminal), `[]` before the error (dockyard wrote the error first)
        for kind in ("network", "volume"):
            merged = [subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
                      for argv, env in (([DOCKER_CLI, kind, "inspect", "nosuch"], dockerd.env),
                                        (dockyard.argv(kind, "inspect", "nosuch"), dockyard.env))]
            assert merged[0] == merged[1] == f"[]\nError: No such {kind}: nosuch\n".encode()
    finally:
        at_once(lambda: dockerd("rm", name), lambda: dockyard("rm", name))
        for kind in ("network", "volume"):
            at_once(lambda: dockerd(kind, "rm", name), lambda: dockyard(kind, "rm", name))


def test_template_actions_and_functions_as_docker(dockerd, dockyard, busybox) -> None:  # noqa: ANN001
    # dockyard refused every action but a path and every function but json/upper/lower in one
    # line; the docker CLI runs Go's text/template with its own functions. A table of the
    # templates users write, on both sides (inspect of a container and an image, ps, images)
    name = "actions-as-docker"
    create = ("create", "--name", name, "--label", "com.example=x", "--label", "b=2", "busybox", "sleep", "1")
    at_once(lambda: dockerd(*create), lambda: dockyard(*create))
    ps = ["ps", "-a", "-f", f"name={name}", "--format"]
    try:
        for template in ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}|{{len .Mounts}}",
                         '{{index .Config.Labels "com.example"}}|{{index .Config.Labels "nope"}}',
                         "{{if .State.Running}}up{{else if eq .State.Status \"created\"}}made{{else}}down{{end}}",
                         "{{with .State}}{{.Pid}}{{end}} {{with .State.Health}}h{{else}}none{{end}}",
                         '{{join .Config.Cmd " "}} {{printf "%s:%d|%-5s|%q" .Name 3 "a" .Path}}',
                         "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}} {{json .Config.Labels}}",
                         "{{- range $i, $e := .Config.Cmd }} {{$i}}:{{$e}} {{- end}} {{$.Name | upper}}",
                         '{{$x := .Name}}{{$x = len $x}}{{$x}} {{(index .Config.Labels "b")}} {{not .State.Paused}}',
                         '{{and .Name .State.Pid}} {{or .State.Error "-"}} {{eq .Config.Labels.nope "a"}}',
                         "{{range .Config.Cmd}}{{if eq . \"sleep\"}}{{continue}}{{end}}{{.}}{{break}}{{end}}",
                         '{{slice .Name 1 3}} {{index .Name 1}} {{len .State.Pid}} {{print 1 2 "a" 3}}',
                         '{{define "x"}}[{{.}}]{{end}}{{template "x" .Name}}{{block "b" .State}}{{.Nope}}{{end}}',
                         "{{range .Name}}x{{end}}", "{{join .Config.Cmd}}", "{{index .Config.Cmd 5}}",
                         "{{lt .Name 1}}", "{{upper 3}}", '{{.Config.Cmd | join ","}}', "{{if .Name}}x",
                         "{{else}}", "{{$x}}", "{{.Name)}}", "{{range .Config.Cmd}}{{end}}{{break}}"):
            args = ["inspect", "-f", template, name]
            theirs, ours = at_once(lambda: dockerd(*args, check=False), lambda: dockyard.run(*args, check=False))
            assert _as_docker(ours) == (theirs.returncode, theirs.stdout, theirs.stderr), args
        for args in (["image", "inspect", "-f", "{{range .RootFS.Layers}}{{len .}}{{end}} {{len .RepoTags}} "
                      '{{join .RepoTags ","}} {{range $k, $v := .Config}}{{$k}} {{end}}', "busybox"],
                     ["image", "inspect", "-f", '{{split .Os "n"}} {{title "a b"}} {{pad .Os 1 2}}|{{truncate .Os 3}}'
                      " {{html \"<a&'>\"}} {{urlquery \"a b/c\"}} {{js \"a'<\"}}", "busybox"],
                     [*ps, '{{if eq .Status "Created"}}{{.Names | upper}}{{end}} {{len .Names}} {{.Label "b"}}'],
                     [*ps, 'table {{.Names}}\t{{printf "%.3s" .Command}}'], [*ps, "{{range .Names}}x{{end}}"],
                     [*ps, '{{index . "Names"}}'],
                     ["images", "--format", '{{.Repository}}{{if .Tag}}:{{.Tag}}{{end}} {{split .Repository "b"}}',
                      "busybox"],
                     ["images", "--format", "table {{$r := .Repository}}{{$r | upper}}", "busybox"]):
            theirs, ours = at_once(lambda: dockerd(*args, check=False), lambda: dockyard.run(*args, check=False))
            assert _as_docker(ours) == (theirs.returncode, theirs.stdout, theirs.stderr), args
    finally:
        at_once(lambda: dockerd("rm", name), lambda: dockyard("rm", name))
