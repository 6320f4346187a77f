"""A digest pin (`run repo@sha256:...`, `FROM repo@sha256:...`) is a promise about content: an
archive must not be able to make it. Issue 16.1: an archive naming its image HOST/REPO@<the real
image's digest> was loaded, and the pin then ran the attacker's image without a pull.

Docker's behaviours matched (dockerd 20.10 on this machine):
- `docker load` of an archive whose RepoTags holds `repo@sha256:...` (or a name without a tag):
  `invalid tag "repo@sha256:..."`, exit 1, nothing named.
- `docker tag x repo@sha256:...` and `POST /images/x/tag?repo=repo@sha256:...`: "refusing to
  create a tag with a digest reference".
- `docker import f repo@sha256:...`: "cannot import digest reference".
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.digest import Digest
from dockyard.errors import InvalidReference
from dockyard.reference import parse_normalized
from tests.conftest import Dockyard
from tests.store.helpers import snapshot


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]


def _rewrite(data: bytes, change) -> bytes:  # noqa: ANN001 - change(name, bytes) -> bytes | None
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, body in _members(data):
            if body is not None:
                body = change(info.name, body)
                if body is None:
                    continue
                info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
    return out.getvalue()


def _docker_archive_named(data: bytes, name: str) -> bytes:
    def change(member: str, body: bytes) -> bytes:
        if member == "manifest.json":
            manifest = json.loads(body)
            manifest[0]["RepoTags"] = [name]
            return json.dumps(manifest).encode()
        return body
    return _rewrite(data, change)


def _oci_archive_named(data: bytes, name: str, annotation: str) -> bytes:
    """The same image as an OCI layout only (no manifest.json), its index naming it `name`."""
    def change(member: str, body: bytes) -> bytes | None:
        if member in ("manifest.json", "repositories"):
            return None
        if member == "index.json":
            index = json.loads(body)
            index["manifests"][0]["annotations"] = {annotation: name}
            return json.dumps(index).encode()
        return body
    return _rewrite(data, change)


@pytest.fixture
def pinned(dockyard: Dockyard, busybox_tar: Path, registry, tmp_path: Path):
    """The real image pushed to the registry: (repository, digest, image ID); and the attacker's
    image (busybox with another /owner file) saved as a docker archive."""
    real = f"{registry.host}/app/real"
    ctx = tmp_path / "real"
    ctx.mkdir()
    dockyard("import", str(busybox_tar), "base:1")
    (ctx / "Dockerfile").write_text("FROM base:1\nRUN echo real > /owner\n")
    real_id = dockyard("build", "-q", "-t", f"{real}:1", str(ctx)).stdout.strip()
    dockyard("push", f"{real}:1")
    digests = json.loads(dockyard("image", "inspect", "-f", "{{json .RepoDigests}}", f"{real}:1").stdout)
    digest = digests[0].split("@")[1]
    (ctx / "Dockerfile").write_text("FROM base:1\nRUN echo attacker > /owner\n")
    dockyard("build", "-q", "-t", "evil:1", str(ctx))
    evil = dockyard("save", "evil:1").stdout_bytes
    return real, digest, real_id, evil


def test_an_archive_cannot_pin_a_digest(pinned, tmp_path: Path) -> None:
    real, digest, real_id, evil = pinned
    victim = Dockyard(tmp_path / "victim")
    victim("images")  # lay out the empty store
    before = snapshot(victim.root)
    attacks = {
        f"{real}@{digest}": _docker_archive_named(evil, f"{real}@{digest}"),
        f"{real}:1@{digest}": _docker_archive_named(evil, f"{real}:1@{digest}"),
    }
    for annotation in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        attacks[f"{real}@{digest} ({annotation})"] = _oci_archive_named(evil, f"{real}@{digest}", annotation)
    for name, archive in attacks.items():
        r = victim("load", input=archive, check=False)
        assert r.returncode == 1, name
        quoted = name.split(" ")[0]
        assert r.stderr == f'Error: invalid tag "{quoted}"\n', name
        assert snapshot(victim.root) == before, f"{name}: the refused load changed the store"
    # The pin names nothing here until the real image is pulled; then it runs that one, and
    # FROM of the pin builds on it.
    r = victim("run", "--rm", "--pull", "never", f"{real}@{digest}", "cat", "/owner", check=False)
    assert (r.returncode, r.stderr) == (125, f"Error: No such image: {real}@{digest}\n")
    victim("pull", f"{real}@{digest}")
    out = victim("run", "--rm", f"{real}@{digest}", "cat", "/owner")
    assert out.stdout == "real\n"
    assert victim("image", "inspect", "-f", "{{.Id}}", f"{real}@{digest}").stdout.strip() == real_id
    ctx = tmp_path / "child"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {real}@{digest}\nRUN cat /owner > /seen\n")
    victim("build", "-t", "child", str(ctx))
    assert victim("run", "--rm", "child", "cat", "/seen").stdout == "real\n"


def test_an_archive_loaded_first_does_not_answer_the_pin(pinned, tmp_path: Path) -> None:
    """Loaded under an honest name, the attacker's image is never what the pin resolves to."""
    real, digest, _, evil = pinned
    victim = Dockyard(tmp_path / "victim")
    victim("load", input=evil)
    assert victim("images", "--digests", "--format", "{{.Digest}}").stdout.split() == ["<none>"]
    assert victim("run", "--rm", "--pull", "never", f"{real}@{digest}", "cat", "/owner", check=False).returncode == 125
    # without --pull never, run pulls what the pin names: the real image, never the loaded one
    assert victim("run", "--rm", f"{real}@{digest}", "cat", "/owner").stdout == "real\n"


def test_load_wants_a_tag_as_docker_does(dockyard: Dockyard, busybox: str) -> None:
    data = dockyard("save", "busybox").stdout_bytes
    r = dockyard("load", input=_docker_archive_named(data, "notag"), check=False)
    assert (r.returncode, r.stderr) == (1, 'Error: invalid tag "notag"\n')


def test_names_with_digests_are_refused_everywhere(dockyard: Dockyard, busybox: str, busybox_tar: Path) -> None:
    pin = "localhost:5000/x@sha256:" + "1" * 64
    for name in (pin, "localhost:5000/x:1@sha256:" + "1" * 64):
        r = dockyard("tag", "busybox", name, check=False)
        assert (r.returncode, r.stderr) == (1, "Error: refusing to create a tag with a digest reference\n")
        r = dockyard("import", str(busybox_tar), name, check=False)
        assert (r.returncode, r.stderr) == (1, "Error: cannot import digest reference\n")
    # The store itself refuses: a repository digest is recorded only with the manifest's bytes.
    store = dockyard.store
    with pytest.raises(InvalidReference):
        store.tag(Digest.parse(busybox), parse_normalized(pin))
    manifest = b'{"schemaVersion": 2}'
    recorded = store.add_repo_digest(Digest.parse(busybox), parse_normalized("localhost:5000/x:1"), manifest)
    assert recorded == Digest.of_bytes(manifest)
    assert store.tags.get(parse_normalized(f"localhost:5000/x@{recorded}")) == Digest.parse(busybox)
    assert dockyard("images", "-q").stdout.split() == [busybox[7:19]]


def test_the_refusals_match_dockerd(dockerd, dockyard: Dockyard, busybox: str, busybox_tar: Path) -> None:
    """The same archives and names through dockerd 20.10: the same refusals, the same words."""
    pin = "sha256:" + "1" * 64
    saved = dockyard("save", "busybox").stdout_bytes
    cases = [("load", _docker_archive_named(saved, f"localhost:5000/x@{pin}")),
             ("load", _docker_archive_named(saved, "notag")),
             ("tag", f"localhost:5000/x@{pin}"),
             ("import", f"localhost:5000/x@{pin}")]
    for command, arg in cases:
        if command == "load":
            ours, theirs = dockyard("load", input=arg, check=False), dockerd("load", input=arg, check=False)
        elif command == "tag":
            ours, theirs = (run("tag", "busybox", arg, check=False) for run in (dockyard, dockerd))
        else:
            ours, theirs = (run("import", str(busybox_tar), arg, check=False) for run in (dockyard, dockerd))
        said = theirs.stderr.strip().splitlines()[-1].removeprefix("Error response from daemon: ")
        assert (ours.returncode, ours.stderr) == (theirs.returncode, f"Error: {said}\n"), command
