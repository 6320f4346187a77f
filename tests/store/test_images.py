"""images, tag, rmi, image inspect, history: output and rules as Docker's."""

from __future__ import annotations

import json
import re

import pytest


def test_images_table_as_docker_prints_it(dockyard, busybox_tar):
    # imported here, not copied (the busybox fixture): the CREATED column is the one of an image
    # made a moment ago. The docker CLI's tabwriter pads each column to its widest cell plus three
    # spaces, so the header's gap after CREATED follows the row's age ("Less than a second ago"
    # or, on a slow machine, "1 second ago": CI saw the second)
    busybox = dockyard("import", str(busybox_tar), "busybox:latest").stdout.strip()
    lines = dockyard("images").stdout.splitlines()
    row = re.fullmatch(rf"busybox      latest    {busybox[7:19]}   ((?:Less than a second|1 second|\d+ seconds"
                       rf"|About a minute|\d+ minutes) ago)(\s+)1\.98MB", lines[1])
    assert row, lines[1]
    created = row.group(1)
    assert len(row.group(2)) == max(len(created), len("CREATED")) + 3 - len(created)
    assert lines[0] == "REPOSITORY   TAG       IMAGE ID       " + "CREATED".ljust(len(created) + 3) + "SIZE"


def test_images_flags(dockyard, busybox):
    dockyard("tag", "busybox", "localhost:5000/team/app:v1")
    # the docker CLI (20.10) prints an ID per row: once per tag
    assert dockyard("images", "-q").stdout == f"{busybox[7:19]}\n" * 2
    assert dockyard("images", "-q", "--no-trunc").stdout == f"{busybox}\n" * 2
    rows = [json.loads(x) for x in dockyard("images", "--format", "json").stdout.splitlines()]
    assert sorted(r["Repository"] for r in rows) == ["busybox", "localhost:5000/team/app"]
    assert {r["Tag"] for r in rows} == {"latest", "v1"}
    assert all(r["ID"] == busybox[7:19] and r["Digest"] == "<none>" for r in rows)
    only = dockyard("images", "localhost:5000/team/app").stdout.splitlines()
    assert len(only) == 2 and only[1].startswith("localhost:5000/team/app   v1 ")
    assert dockyard("images", "busybox:nope").stdout.splitlines()[1:] == []
    header = dockyard("images", "--digests").stdout.splitlines()[0]
    assert header.split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert dockyard("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox").stdout == "busybox:latest\n"


def test_tag_validates_and_needs_an_image(dockyard, busybox):
    r = dockyard("tag", "busybox", "UPPER", check=False)
    assert r.returncode == 1 and "must be lowercase" in r.stderr
    r = dockyard("tag", "nosuch", "x", check=False)
    assert r.returncode == 1 and r.stderr.strip() == "Error: No such image: nosuch:latest"
    dockyard("tag", busybox[7:15], "byprefix")  # an ID prefix names the image, as in Docker
    assert "byprefix" in dockyard("images").stdout


def test_rmi_untags_then_deletes(dockyard, busybox):
    dockyard("tag", "busybox", "second")
    assert dockyard("rmi", "second").stdout == "Untagged: second:latest\n"
    out = dockyard("rmi", "busybox").stdout.splitlines()
    assert out[0] == "Untagged: busybox:latest"
    assert out[1] == f"Deleted: {busybox}"
    assert out[2].startswith("Deleted: sha256:")  # the layer
    assert dockyard("images", "-aq").stdout == ""
    assert not any((dockyard.root / "layers").iterdir())


def test_rmi_by_id_with_several_tags_needs_force(dockyard, busybox):
    dockyard("tag", "busybox", "second")
    r = dockyard("rmi", busybox[7:19], check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"Error: conflict: unable to delete {busybox[7:19]} (must be forced) - "
                                "image is referenced in multiple repositories")
    out = dockyard("rmi", "-f", busybox[7:19]).stdout.splitlines()
    assert sorted(out[:2]) == ["Untagged: busybox:latest", "Untagged: second:latest"]
    assert out[2] == f"Deleted: {busybox}"


def test_rmi_unknown_reports_each_and_fails(dockyard, busybox):
    r = dockyard("rmi", "nosuch", "busybox", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: No such image: nosuch"   # the docker CLI's words: the name as given
    assert "Untagged: busybox:latest" in r.stdout


def test_rmi_keeps_layers_other_images_need(dockyard, busybox, busybox_tar):
    other = dockyard("import", "-m", "again", str(busybox_tar), "again").stdout.strip()
    assert other != busybox
    out = dockyard("rmi", "busybox").stdout.splitlines()
    assert out == ["Untagged: busybox:latest", f"Deleted: {busybox}"]  # the shared layer stays
    assert dockyard("save", "again").returncode == 0


def test_inspect_is_docker_shaped(dockyard, busybox, busybox_tar):
    info = json.loads(dockyard("image", "inspect", "busybox").stdout)
    assert isinstance(info, list) and len(info) == 1
    info = info[0]
    for key in ("Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
                "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os",
                "Size", "GraphDriver", "RootFS", "Metadata"):
        assert key in info
    assert info["RepoTags"] == ["busybox:latest"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    # Docker's layer size: file bytes plus symlink target lengths (what overlay2's du counts).
    import tarfile
    with tarfile.open(busybox_tar) as tar:
        expected = sum(m.size if m.isreg() else len(m.linkname) if m.issym() else 0 for m in tar)
    assert info["Size"] == expected
    assert dockyard("image", "inspect", "-f", "{{.Id}}", "busybox").stdout == busybox + "\n"
    r = dockyard("image", "inspect", "nosuch", check=False)
    assert r.returncode == 1 and r.stdout.strip() == "[]"
    assert r.stderr.strip() == "Error: No such image: nosuch"


def test_history_flags(dockyard, busybox):
    table = dockyard("history", "busybox").stdout.splitlines()
    assert table[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert table[1].startswith(busybox[7:19])
    assert table[1].endswith("Imported from -")
    assert dockyard("history", "-q", "busybox").stdout == busybox[7:19] + "\n"
    raw = dockyard("history", "-H=false", "busybox").stdout.splitlines()[1]
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", raw)
    assert " 1984294 " in raw or re.search(r"\s\d{7}\s", raw)


@pytest.mark.parametrize(("args", "status"), [(["images", "--bogus"], 125), (["tag", "onlyone"], 1)])
def test_bad_flags_one_line(dockyard, args, status):
    # the docker CLI 20.10's statuses: 125 for a flag error, 1 for cobra's arity error
    # (tests/api/test_cli_container_extras compares the words with it)
    r = dockyard(*args, check=False)
    assert r.returncode == status
    assert r.stderr.startswith("Error: ")
    assert "Traceback" not in r.stderr
