"""The build corpus, each case through dockerd 20.10's classic builder and through dockyard.

A case is a folder under cases/: the build context (Dockerfile, files, .dockerignore) plus an
optional `case.toml` (also in the context, so both sides copy it alike):

    source = "what public Dockerfile it is modelled on"
    prepare = "sh run in the copied context first (modes, symlinks, empty dirs...)"
    build_args = { KEY = "value" }
    flags = ["--target", "build"]            # more `build` flags
    [[rebuild]]                              # then: change something, build again, compare
    what = "a changed file"
    prepare = "echo 2 > app.txt"
    build_args = { KEY = "other" }           # replaces the case's build args

Every build is compared (see harness.py): output with cache hits step by step, error and exit
status, and the image's config, history and files. The same build is run a second time right
away (every step a cache hit on both sides), then each [[rebuild]].
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

import pytest

from tests.differential.harness import Outcome, Pair, copy_case, diff_images, run_prepare

CASES = Path(__file__).parent / "cases"

# Cases where dockyard still differs from Docker, with the reason; each is an expected failure
# that must fail (strict), so a fix shows up as an unexpected pass and the entry goes.
KNOWN: dict[str, str] = {}


def _cases() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def _flags(case: dict, build_args: dict | None = None) -> list[str]:
    flags = list(case.get("flags", []))
    for key, value in (case.get("build_args", {}) if build_args is None else build_args).items():
        flags += ["--build-arg", f"{key}={value}"]
    return flags


def compare(what: str, docker: Outcome, dockyard: Outcome) -> list[str]:
    problems = []
    if docker.output != dockyard.output:
        diff = "\n".join(difflib.unified_diff(docker.output, dockyard.output, "docker", "dockyard",
                                              lineterm="", n=2))
        problems.append(f"{what}: build output differs:\n{diff}")
    if docker.returncode != dockyard.returncode:
        problems.append(f"{what}: exit status docker {docker.returncode}, dockyard {dockyard.returncode}")
    if docker.error != dockyard.error:
        problems.append(f"{what}: error differs:\n  docker:   {docker.error!r}\n  dockyard: {dockyard.error!r}")
    if docker.image is not None and dockyard.image is not None:
        problems += [f"{what}: {d}" for d in diff_images(docker.image, dockyard.image)]
    return problems


def build_both(pair: Pair, ctx: Path, flags: list[str], tag: str) -> tuple[Outcome, Outcome]:
    return pair.both(lambda: pair.build("docker", ctx, flags, tag),
                     lambda: pair.build("dockyard", ctx, flags, tag))


@pytest.mark.parametrize("name", _cases())
def test_build_case(pair: Pair, name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if name in KNOWN:
        request.applymarker(pytest.mark.xfail(reason=KNOWN[name], strict=True))
    spec_file = CASES / name / "case.toml"
    case = tomllib.loads(spec_file.read_text()) if spec_file.exists() else {}
    ctx = copy_case(CASES / name, tmp_path / "ctx", case.get("prepare"))
    tag = f"diff-{name}:latest"
    problems: list[str] = []

    docker, dockyard = build_both(pair, ctx, _flags(case), tag)
    problems += compare("first build", docker, dockyard)
    if not problems:
        docker, dockyard = build_both(pair, ctx, _flags(case), tag)
        problems += compare("the same build again (cache)", docker, dockyard)
    for step in case.get("rebuild", []) if not problems else []:
        if step.get("prepare"):
            run_prepare(ctx, step["prepare"])
        docker, dockyard = build_both(pair, ctx, _flags(case, step.get("build_args")), tag)
        problems += compare(f"rebuild after {step.get('what', 'a change')}", docker, dockyard)
    assert not problems, "\n".join(problems)
