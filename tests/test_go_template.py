"""`--format` templates as the docker CLI 20.10 runs them (dockyard.cli.gotemplate): Go's parse
errors, typed values (a nil slice `[]`, a nil map `map[]`, a nil pointer `<nil>`, a struct
`{...}`, a field a struct lacks an error) and the inspect's fallback to the JSON with
missingkey=error. Each expected line is what the docker 20.10 CLI printed for the same template
(tests/test_cli_as_docker.py keeps the comparison with dockerd for the commands)."""

from __future__ import annotations

import re

import pytest

from dockyard.cli.gotemplate import Context, TemplateError, parse
from dockyard.cli.inspect_format import CONTAINER, IMAGE, VOLUME, render_inspect

CONTAINER_JSON = {"Id": "abc", "Name": "/web", "Args": ["1000"], "ExecIDs": None,
                  "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False,
                            "OOMKilled": False, "Dead": False, "Pid": 7, "ExitCode": 0, "Error": "",
                            "StartedAt": "2026-12-08T03:12:13.763446043Z", "FinishedAt": "0001-01-01T00:00:00Z"},
                  "Config": {"Env": None, "Cmd": ["sleep", "1"], "Labels": None, "Volumes": None},
                  "HostConfig": {"Binds": None, "NetworkMode": "default"}, "Mounts": []}


@pytest.mark.parametrize("template, error", [
    ("{{json", "unclosed action"),
    ("{{", "unclosed action"),
    ("{{.ID", "unclosed action"),
    ("{{.Names}} {{.Nope", "unclosed action"),
    ("{{json .", 'illegal number syntax: "."'),   # the lexer's '.' at the end is a number
    ("{{.ID}", "bad character U+007D '}'"),
    ('{{"x}}', "unterminated quoted string"),
    ("{{.ID.}}", "unexpected <.> in operand"),
    ("{{/* c }}", "unclosed comment"),
    ("{{foo .ID}}", 'function "foo" not defined'),
    ("{{.ID | foo}}", 'function "foo" not defined'),
    ("{{}}", "missing value for command"),
])
def test_parse_errors_as_go(template: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(template)
    assert str(caught.value) == f"template: :1: {error}"


@pytest.mark.parametrize("template, output", [
    ("}}", "}}"), ("{{/* c */}}", ""), ("{{- .ID -}} x", "abcx"), ("x {{- .ID}}", "xabc"),
    ("{{.ID\n}}", "abc"), ('{{"lit"}}', "lit"), ("{{upper .ID}}", "ABC"),
])
def test_parses_as_go(template: str, output: str) -> None:
    assert parse(template).execute({"ID": "abc"}, Context("*formatter.ContainerContext", {"ID"})) == output


ROW = Context("*formatter.ContainerContext", {"ID", "Names"}, {"Label": 1})


@pytest.mark.parametrize("template, error", [
    ("{{.Nope}}", ':1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext'),
    ("{{.ID}} {{.Nope}}", ':1:10: executing "" at <.Nope>: can\'t evaluate field Nope in type '
                          "*formatter.ContainerContext"),
    ("x\n{{.ID}}\n{{.Nope}}", ':3:2: executing "" at <.Nope>: can\'t evaluate field Nope in type '
                              "*formatter.ContainerContext"),
    ("{{json .Nope}}", ':1:7: executing "" at <.Nope>: can\'t evaluate field Nope in type '
                       "*formatter.ContainerContext"),
    ("{{.Names.X}}", ':1:8: executing "" at <.Names.X>: can\'t evaluate field X in type string'),
    ("{{.Label}}", ':1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0'),
    ('{{.ID "x"}}', ':1:2: executing "" at <.ID>: wrong number of args for ID: want 0 got 1'),
])
def test_row_errors_as_docker(template: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(template).execute({"ID": "abc", "Names": "web"}, ROW, methods={"Label": lambda key: ""})
    assert str(caught.value) == "template: " + error


@pytest.mark.parametrize("template, output", [
    ("{{.Config.Env}} {{.Config.Cmd}} {{.ExecIDs}} {{.Args}}", "[] [sleep 1] [] [1000]"),
    ("{{.Config.Labels}} {{.Config.Volumes}} {{.Config.Labels.x}}", "map[] map[] <no value>"),
    ("{{.State.Health}} {{.Node}} {{.SizeRw}} {{json .State.Health}}", "<nil> <nil> <nil> null"),
    ("{{.State}}", "{running true false false false false 7 0  2026-12-08T03:12:13.763446043Z "
                   "0001-01-01T00:00:00Z <nil>}"),
    ("{{.HostConfig.Binds}} {{.HostConfig.NetworkMode}}", "[] default"),
    ("{{.ID}}", "abc"), ("{{.Id}}", "abc"),   # its Go name, and (the typed struct has none) its JSON key
])
def test_inspect_typed(template: str, output: str) -> None:
    assert render_inspect(parse(template), CONTAINER_JSON, CONTAINER) == output


@pytest.mark.parametrize("obj, kind, raw, template, error", [
    (CONTAINER_JSON, CONTAINER, True, "{{.Nope}}", ':1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
    (CONTAINER_JSON, CONTAINER, True, "{{.State.Nope}}",
     ':1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"'),
    (CONTAINER_JSON, CONTAINER, True, "{{.State.Health.Status}}",
     ':1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health"'),
    # a name the typed struct lacks (Id: ID's JSON key) sends the whole template to the JSON
    (CONTAINER_JSON, CONTAINER, True, "{{.Id}} {{.ID}}",
     ':1:10: executing "" at <.ID>: map has no entry for key "ID"'),
    (CONTAINER_JSON, CONTAINER, True, "{{.Id.X}}",
     ':1:5: executing "" at <.Id.X>: can\'t evaluate field X in type interface {}'),
    (CONTAINER_JSON, CONTAINER, True, "{{.Config.Env.X}}",
     ':1:9: executing "" at <.Config.Env.X>: nil pointer evaluating interface {}.X'),
    ({"Id": "i", "Os": "linux"}, IMAGE, True, "{{.State.Health}}",
     ':1:8: executing "" at <.State.Health>: map has no entry for key "State"'),
    ({"Name": "v", "Labels": None}, VOLUME, False, "{{.Nope}}",
     ':1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type types.Volume'),
    ({"Name": "v", "Labels": None}, VOLUME, False, "{{.Labels.x}} {{.UsageData.Size}}",
     ':1:26: executing "" at <.UsageData.Size>: nil pointer evaluating *types.VolumeUsageData.Size'),
])
def test_inspect_errors_as_docker(obj: dict, kind: object, raw: bool, template: str, error: str) -> None:
    with pytest.raises(TemplateError, match="^" + re.escape("template parsing error: template: " + error) + "$"):
        render_inspect(parse(template), obj, kind, raw)


def test_refused_not_answered_wrongly() -> None:
    # what the subset does not run is refused in one line: it printed the template as it
    # stood, or (range) the whole object where the docker CLI prints each element
    for template in ("{{range .Tags}}{{.}},{{end}}", "{{range $k, $v := .State}}{{$k}}{{end}}",
                     "{{if .Name}}x{{end}}", "{{index .Tags 0}}", "{{.ID | upper}}"):
        with pytest.raises(TemplateError, match="is not supported by dockyard's --format"):
            parse(template)
