"""Image references: the data files hold what the docker CLI 28 accepts/prints for each input."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, InvalidReference
from dockyard.reference import (
    Reference,
    parse_normalized,
    parse_reference,
    parse_repository,
    validate_tag,
)

DATA = Path(__file__).parent / "data" / "reference"
HEX = "0123456789abcdef" * 4


def _cases(name: str) -> list[tuple[str, ...]]:
    cases = []
    for line in (DATA / name).read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("#"):
            continue
        cases.append(tuple(line.split(" | ")))
    return cases


VALID = _cases("valid.txt")
INVALID = _cases("invalid.txt")


def test_data_files_are_big_enough() -> None:
    assert len(VALID) >= 70 and len(INVALID) >= 50


@pytest.mark.parametrize(("text", "full", "familiar"), VALID, ids=[c[0][:40] for c in VALID])
def test_valid(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar == familiar
    # Normalizing is idempotent: the full and familiar forms parse back to the same reference.
    assert parse_reference(full) == ref
    assert parse_reference(familiar) == ref


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[c[0][:40] for c in INVALID])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert str(info.value) == message
    assert isinstance(info.value, InvalidParameter)  # a user mistake: HTTP 400, no traceback


def test_empty_string() -> None:
    # ParseNormalizedNamed("") parses "docker.io/library/" which does not match the grammar.
    with pytest.raises(InvalidReference, match="^invalid reference format$"):
        parse_reference("")


def test_parse_normalized_adds_latest_only_without_tag_or_digest() -> None:
    assert str(parse_normalized("busybox")) == "docker.io/library/busybox:latest"
    assert parse_normalized("busybox").familiar == "busybox:latest"
    assert str(parse_normalized("a/b:1")) == "docker.io/a/b:1"
    digested = parse_normalized(f"a@sha256:{HEX}")
    assert digested.tag is None and digested.digest == Digest("sha256", HEX)
    assert parse_reference("busybox").tag is None


def test_fields_and_registry_helpers() -> None:
    ref = parse_reference(f"localhost:5000/a/b:tag@sha256:{HEX}")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "a/b", "tag")
    assert ref.digest == Digest("sha256", HEX)
    assert ref.name == "localhost:5000/a/b"
    assert ref.familiar_name == "localhost:5000/a/b"
    assert ref.registry == "localhost:5000"
    assert ref.repository_path == "a/b"

    hub = parse_reference("busybox")
    assert hub.registry == "registry-1.docker.io"  # docker.io's API is served by registry-1
    assert hub.repository_path == "library/busybox"
    assert parse_reference("index.docker.io/user/x").domain == "docker.io"
    assert parse_reference("[::1]:5000/x").registry == "[::1]:5000"


def test_with_tag_and_with_digest() -> None:
    ref = parse_reference("busybox")
    assert str(ref.with_tag("1.36")) == "docker.io/library/busybox:1.36"
    both = ref.with_tag("1").with_digest(Digest("sha256", HEX))
    assert both.familiar == f"busybox:1@sha256:{HEX}"
    # WithTag keeps an existing digest, as distribution/reference does.
    assert both.with_tag("2").digest == Digest("sha256", HEX)
    assert both.trimmed() == Reference("docker.io", "library/busybox")
    assert str(both.docker_ref()) == f"docker.io/library/busybox@sha256:{HEX}"
    assert str(ref.docker_ref()) == "docker.io/library/busybox:latest"
    for bad in ("", ".x", "-x", "a" * 129, "a:b", "a/b"):
        with pytest.raises(InvalidReference, match="^invalid tag format$"):
            ref.with_tag(bad)
    assert validate_tag("a" * 128) == "a" * 128


def test_frozen_and_hashable() -> None:
    a, b = parse_reference("busybox:1"), parse_reference("docker.io/library/busybox:1")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.tag = "2"  # type: ignore[misc]


def test_repository_for_tagging() -> None:
    assert str(parse_repository("x")) == "docker.io/library/x:latest"
    assert str(parse_repository("x:1")) == "docker.io/library/x:1"
    with pytest.raises(InvalidReference, match="digest"):
        parse_repository(f"x@sha256:{HEX}")
    with pytest.raises(InvalidReference, match="64-byte hexadecimal"):
        parse_repository(HEX)


def test_plain_docker_hub_names_are_split_as_the_expression_splits_them() -> None:
    # reference._split_plain reads `docker.io/PATH[:TAG]` without compiling the grammar's
    # expression (~0.5 ms at each start): where it answers, it answers what the expression does
    import random
    import re

    from dockyard import reference

    def expression(text: str) -> tuple | None:
        match = re.fullmatch(reference._REFERENCE, text, re.ASCII)
        return None if match is None else match.groups()[1:]

    texts = ["docker.io/library/busybox", "docker.io/library/busybox:latest", "docker.io/a/b-c.d_e/f:V1.2-x_y",
             "docker.io/a__b", "docker.io/a--b", "docker.io/a..b", "docker.io/-a", "docker.io/a-", "docker.io/a/",
             "docker.io//a", "docker.io/a:", "docker.io/a:.x", "docker.io/a:-x", "docker.io/a:" + "t" * 128,
             "docker.io/a:" + "t" * 129, "docker.io/A", "docker.io/a@sha256:" + HEX, "docker.io/a:b:c", "docker.io/"]
    rnd = random.Random(7)
    texts += ["docker.io/" + "".join(rnd.choice("ab0._-/:@A") for _ in range(rnd.randint(0, 12)))
              for _ in range(20000)]
    answered = 0
    for text in texts:
        plain = reference._split_plain(text)
        if plain is not None:
            answered += 1
            assert plain == expression(text), text
    # the check can fail: the common names are answered without the expression, the rest are not
    assert reference._split_plain("docker.io/library/busybox:latest") == ("docker.io", "library/busybox", "latest",
                                                                          None)
    assert reference._split_plain("docker.io/a__b") is None and reference._split_plain("localhost/a") is None
    assert answered > 500
    assert parse_repository("x") == Reference("docker.io", "library/x", "latest")
    with pytest.raises(InvalidReference, match="invalid reference format"):
        parse_repository("a..b")
