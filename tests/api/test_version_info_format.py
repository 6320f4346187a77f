"""`version --format` and `info`'s storage lines. `version --format`: the docker CLI formats a Go struct there, not a map, so a template names
its fields by their Go names and prints a struct as `{a b}`. Compared with Debian's docker 20.10
CLI against the reference dockerd (values differ between the engines; the shape must not)."""

from __future__ import annotations

import json
import re

# (template, the output's pattern on both engines, or None where both refuse it)
CASES = [
    # APIVersion, whose JSON key is ApiVersion; MinAPIVersion; a nested struct's field
    ("{{.Client.APIVersion}}|{{.Server.APIVersion}}|{{.Server.MinAPIVersion}}|{{.Server.Os}}",
     r"1\.\d+\|1\.\d+\|1\.\d+\|linux"),
    ("{{json .Server.Platform}}", r'\{"Name":"[^"]*"\}'),
    ("{{.Server.Platform.Name}}|{{.Client.Os}}", r"[^|]*\|linux"),
    # a slice of structs prints {Name Version map[...]}
    ("{{.Server.Components}}", r"\[\{Engine \S+ map\[ApiVersion:1\.\d+ .*\}\]"),
    ("{{json .Client}}", r'\{"Platform":\{"Name":"[^"]*"\},"Version":.*"ApiVersion":"1\.\d+".*\}'),
    # the client's experimental features: always on since docker 20.10 (the daemon's are off)
    ("{{.Client.Experimental}}|{{.Server.Experimental}}", r"true\|false"),
    # the JSON name, or a field the struct lacks: an error, not "<no value>" as a map's
    ("{{.Client.ApiVersion}}", None),
    ("{{.Server.ApiVersion}}", None),
    ("{{.Server.Foo}}", None),
]


def test_version_format_takes_go_field_names(dockyard, dockerd) -> None:
    for template, pattern in CASES:
        theirs = dockerd("version", "-f", template, check=False)
        ours = dockyard("version", "-f", template, check=False)
        if pattern is None:
            assert theirs.returncode == ours.returncode == 1, (template, theirs, ours)
            field = template.strip("{}").rsplit(".", 1)[1]
            assert f"can't evaluate field {field} in type" in theirs.stderr
            assert ours.stderr.startswith("Error: ") and f"can't evaluate field {field} in type" in ours.stderr
            continue
        assert theirs.returncode == ours.returncode == 0, (template, theirs, ours)
        for out in (theirs.stdout, ours.stdout):
            assert re.fullmatch(pattern + "\n", out), (template, out)


def test_info_has_overlay2s_lines(dockyard, dockerd) -> None:
    """dockerd's overlay2 says its backing file system, d_type, whether it diffs the upper
    directory natively, userxattr: the same names, in its order; the same values on one host."""
    theirs = json.loads(dockerd("info", "-f", "{{json .DriverStatus}}").stdout)
    ours = json.loads(dockyard("info", "-f", "{{json .DriverStatus}}").stdout)
    assert [k for k, _ in ours] == [k for k, _ in theirs] == [
        "Backing Filesystem", "Supports d_type", "Native Overlay Diff", "userxattr"]
    assert ours == theirs
    lines = dockyard("info").stdout.splitlines()
    at = lines.index(" Storage Driver: overlay2")
    assert lines[at + 1:at + 5] == [f"  {k}: {v}" for k, v in theirs]
