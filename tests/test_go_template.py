"""`--format` templates over the JSON a command prints (inspect, ps, images): a key the object
lacks is what Go's text/template gives for a map without that key (the docker CLI formats the
decoded JSON, a map[string]interface{}): printed `<no value>`, `null` through json, and an error
only when a field of it is asked for. `inspect -f '{{json .State.Health}}'` of a container without
a health check printed an error where the docker CLI prints null."""

from __future__ import annotations

import re

import pytest

from dockyard.cli.format import render_template
from dockyard.errors import InvalidParameter

STATE = {"State": {"Status": "running", "Health": None, "Pid": 7}, "Name": "/web", "Tags": ["a", "b"],
         "Config": {"Labels": None}}


@pytest.mark.parametrize("template, output", [
    ("{{.State.Status}} {{.Name}}", "running /web"),
    ("{{.State.Missing}}", "<no value>"),
    ("{{json .State.Missing}}", "null"),
    ("{{.State.Health}}", "<nil>"),
    ("{{json .State.Health}}", "null"),
    ("{{.Tags}}", "[a b]"),
    ("{{json .Tags}}", '["a","b"]'),
    ("{{upper .State.Status}}", "RUNNING"),
    # a nil map[string]string of the typed struct (the CLI's first try): a key of it is no value
    # (`docker image inspect -f '{{.Config.Labels.x}}'` of an image without labels)
    ("{{.Config.Labels.x}}", "<no value>"),
])
def test_as_go_text_template(template: str, output: str) -> None:
    assert render_template(template, STATE) == output


@pytest.mark.parametrize("template, error", [
    ("{{.State.Missing.Status}}", "nil pointer evaluating interface {}.Status"),
    ("{{.State.Health.Status}}", "nil pointer evaluating interface {}.Status"),
    ("{{.Config.Labels.x.y}}", "nil pointer evaluating interface {}.y"),
    ("{{.Name.Foo}}", "can't evaluate field Foo"),
    # what the subset does not run is refused: it printed the template as it stood, or (range)
    # the whole object where the docker CLI prints each element
    ("{{range .Tags}}{{.}},{{end}}", "{{range .Tags}} is not supported"),
    ("{{range $k, $v := .State}}{{$k}}{{end}}", "{{range $k, $v := .State}} is not supported"),
    ("{{if .Name}}x{{end}}", "{{if .Name}} is not supported"),
    ("{{index .Tags 0}}", "{{index .Tags 0}} is not supported"),
])
def test_errors(template: str, error: str) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(error)):
        render_template(template, STATE)
