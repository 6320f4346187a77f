"""`--format` templates as the docker CLI 20.10 runs them (dockyard.cli.gotemplate): Go's parse
errors, typed values (a nil slice `[]`, a nil map `map[]`, a nil pointer `<nil>`, a struct
`{...}`, a field a struct lacks an error) and the inspect's fallback to the JSON with
missingkey=error. Each expected line is what the docker 20.10 CLI printed for the same template
(tests/test_cli_as_docker.py keeps the comparison with dockerd for the commands)."""

from __future__ import annotations

import re

import pytest

from dockyard.cli.gotemplate import TemplateError, parse
from dockyard.cli.govalues import Context
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
    # the actions'
    ("{{range}}{{end}}", "missing value for range"),
    ("{{range .Config.Cmd}}", "unexpected EOF"),
    ("{{with .Name}}{{else if .Name}}{{end}}", "unexpected <if> in input"),   # `else if` is for if alone (Go 1.19)
    ("{{if .Name}}{{else}}{{end}}{{end}}", "unexpected {{end}}"),
    ("{{.Name)}}", 'unexpected ")" in command'),
    ("{{(.Name}}", "unclosed left paren"),
    ('{{"a".X}}', 'unexpected . after term "\\"a\\""'),
    ("{{continue}}", "{{continue}} outside {{range}}"),
    ("{{$x}}", 'undefined variable "$x"'),
    ("{{range $x := .Config.Cmd}}{{end}}{{$x}}", 'undefined variable "$x"'),
    ("{{range $a, $b, $c := .Config.Cmd}}{{end}}", "too many declarations in range"),
    ("{{.Name | 3}}", "non executable command in pipeline stage 2"),
    ("{{template .Name}}", "unexpected \".Name\" in template clause"),
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


LABELLED = {**CONTAINER_JSON, "Config": {**CONTAINER_JSON["Config"], "Labels": {"com.example": "x", "b": "2"},
                                          "Env": ["A=1", "PATH=/bin"]}}


@pytest.mark.parametrize("template, output", [
    # actions, variables, pipelines, functions: each line as the docker 20.10 CLI printed it
    ('{{index .Config.Labels "com.example"}}|{{index .Config.Labels "nope"}}|{{.Config.Labels.nope}}',
     "x||<no value>"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Labels.nope}}y{{else if .State.Pid}}p{{else}}n{{end}}", "p"),
    ("{{with .State}}{{.Pid}}{{end}} {{with .State.Health}}h{{else}}no{{end}}", "7 no"),
    ('{{join .Config.Cmd " "}} {{len .Mounts}} {{len .Config.Cmd}} {{printf "%s:%d" .Name 3}}', "sleep 1 0 2 /web:3"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "b=2;com.example=x;"),   # sorted keys
    ("{{range .Config.Labels}}{{.}}{{end}} {{json .Config.Labels}}", '2x {"b":"2","com.example":"x"}'),
    ("{{- range $i, $e := .Config.Cmd }} {{$i}}:{{$e}} {{- end}}", " 0:sleep 1:1"),
    ("{{range .Config.Cmd}}{{$.Name}}:{{.}} {{end}}", "/web:sleep /web:1 "),
    ("{{range .Mounts}}m{{else}}none{{end}}{{range .ExecIDs}}e{{end}}", "none"),
    ("{{range .Config.Cmd}}{{if eq . \"sleep\"}}{{continue}}{{end}}{{.}}{{end}}"
     "{{range .Config.Cmd}}{{.}}{{break}}{{end}}", "1sleep"),
    ("{{.Name | upper}} {{.State.Status | printf \"%q\" | len}}", "/WEB 9"),
    ("{{$x := .Name}}{{$x}} {{$x = 2}}{{$x}} {{(.State).Pid}} {{(index .Config.Labels \"b\")}}", "/web 2 7 2"),
    ('{{split "a,b" ","}} {{title "hello world"}} {{pad "ab" 1 2}}| {{truncate "abcd" 3}} {{lower "AB"}}',
     "[a b] Hello World  ab  | abc ab"),
    ('{{and .Name .State.Pid}} {{or .State.Error .Name}} {{and "" 1}} {{not .Config.Labels.nope}}', "7 /web  true"),
    ('{{eq .Name "/web"}} {{ne .Name "/web"}} {{eq .Name "a" "/web"}} {{lt 1 2}} {{ge .State.Pid 0}}',
     "true false true true true"),
    ('{{eq .Config.Labels.nope "a"}} {{le 2 2}} {{gt "b" "a"}}', "false true true"),
    ('{{slice .Name 1 3}} {{slice .Config.Cmd 0 1}} {{index .Config.Cmd 1}} {{index .Name 1}}', "we [sleep] 1 119"),
    ('{{html "<a\'b\\"&>"}} {{js "a\'b<"}} {{urlquery "a b&c/d"}}',
     "&lt;a&#39;b&#34;&amp;&gt; a\\'b\\u003C a+b%26c%2Fd"),
    ('{{print .Config.Labels.nope 1 2 "a" "b" 3}}|{{println .Name 1}}', "<nil> 1 2ab3|/web 1\n"),
    ('{{printf "%t %v %.2f %v|%.3s|%8.2f|%-4d|%x" true false 3.14159 .State.Pid "abcdef" 2.5 7 255}}',
     "true false 3.14 7|abc|    2.50|7   |ff"),
    ('{{printf "%d %s" 1}} {{printf "%s" 1}} {{printf "x" 1}}', "1 %!s(MISSING) %!s(int=1) x%!(EXTRA int=1)"),
    ('{{printf "%T %T %T %T" 1 .Name .Config.Cmd .State.Pid}}', "int string strslice.StrSlice int"),
    ("{{1.5}} {{1e6}} {{3}} {{true}} {{0x10}} {{'a'}}", "1.5 1e+06 3 true 16 97"),
    ('{{define "x"}}[{{.}}]{{end}}{{template "x" .Name}}{{template "x"}}{{block "b" .State}}{{.Pid}}{{end}}',
     "[/web][<no value>]7"),
    ("{{- if .State.Running -}}\n  up\n{{- else -}}\n  down\n{{- end -}}", "up"),
])
def test_actions_and_functions_as_docker(template: str, output: str) -> None:
    assert render_inspect(parse(template), LABELLED, CONTAINER) == output


@pytest.mark.parametrize("template, error", [
    ("{{range .Name}}x{{end}}", ":1:8: executing \"\" at <.Name>: range can't iterate over /web"),
    ("{{join .Config.Cmd}}", ':1:2: executing "" at <join>: wrong number of args for join: want 2 got 1'),
    ("{{index .Config.Labels 1}}", ':1:2: executing "" at <index .Config.Labels 1>: error calling index: '
                                   "value has type int; should be string"),
    ("{{index .Config.Cmd 5}}", ':1:2: executing "" at <index .Config.Cmd 5>: error calling index: '
                                "index out of range: 5"),
    ("{{index .State.Pid 1}}", ':1:2: executing "" at <index .State.Pid 1>: error calling index: '
                               "reflect: string index out of range"),   # the JSON's json.Number "7"
    ("{{lt .Name 1}}", ':1:2: executing "" at <lt .Name 1>: error calling lt: incompatible types for comparison'),
    ("{{lt true false}}", ':1:2: executing "" at <lt true false>: error calling lt: invalid type for comparison'),
    ("{{eq}}", ':1:2: executing "" at <eq>: wrong number of args for eq: want at least 1 got 0'),
    ("{{eq .Name}}", ':1:2: executing "" at <eq .Name>: error calling eq: missing argument for comparison'),
    ("{{upper 3}}", ':1:8: executing "" at <3>: expected string; found 3'),
    ("{{truncate .Name 1.5}}", ':1:17: executing "" at <1.5>: expected integer; found 1.5'),
    ('{{.Config.Cmd | join ","}}', ':1:21: executing "" at <",">: can\'t handle "," for arg of type []string'),
    ("{{.Name | .State}}", ':1:10: executing "" at <.State>: State is not a method but has arguments'),
    ('{{template "y"}}', ':1:11: executing "" at <{{template "y"}}>: template "y" not defined'),
    ("{{$y = 1}}", ':1:7: executing "" at <1>: undefined variable: $y'),
    ('{{block "b" .State}}{{.Status}}{{.Nope}}{{end}}', ':1:33: executing "b" at <.Nope>: map has no entry for key '
                                                        '"Nope"'),
])
def test_action_errors_as_docker(template: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_inspect(parse(template), LABELLED, CONTAINER)
    assert str(caught.value) == "template parsing error: template: " + error


def test_the_json_fallback_as_docker() -> None:
    # what the typed run cannot take runs on the JSON: its numbers are json.Number, a string
    template = "{{len .State}} {{len .State.Pid}} {{.Name | .State}}"
    with pytest.raises(TemplateError, match="State is not a method"):
        render_inspect(parse(template), LABELLED, CONTAINER)
    assert render_inspect(parse("{{len .State}} {{len .State.Pid}} {{index .State.Pid 0}}"), LABELLED, CONTAINER) \
        == "11 1 55"


def test_a_list_row_is_a_context() -> None:
    row = {"ID": "abc", "Names": "web"}
    run = parse('{{if eq .Names "web"}}{{.Names | upper}}{{end}} {{len .ID}} {{.Label "x" | printf "[%s]"}}')
    assert run.execute(row, ROW, methods={"Label": lambda key: key * 2}) == "WEB 3 [xx]"
    for template, error in (("{{index . \"Names\"}}", "error calling index: can't index item of type "
                                                        "formatter.ContainerContext"),
                            ("{{range .}}{{end}}", "range can't iterate over")):
        with pytest.raises(TemplateError, match=re.escape(error)):
            parse(template).execute(row, ROW)
