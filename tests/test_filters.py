"""Docker's filters: parsed and checked once; unknown or malformed ones are 400s."""

from __future__ import annotations

import pytest

from dockyard import filters
from dockyard.errors import InvalidParameter


def test_both_json_shapes() -> None:
    a = filters.parse('{"name": {"web": true}, "label": ["a=b", "c"]}', filters.CONTAINERS)
    assert a.get("name") == ["web"] and a.get("label") == ["a=b", "c"]
    assert not filters.parse("", filters.CONTAINERS) and not filters.parse("{}", filters.IMAGES)


@pytest.mark.parametrize("raw, message", [
    ('{"nope": {"x": true}}', "Invalid filter 'nope'"),
    ('{"status": {"sleeping": true}}', "Invalid filter 'status=sleeping'"),
    ('{"health": ["meh"]}', "Unrecognised filter value for health: meh"),
    ('{"exited": ["x"]}', 'parsing "x": invalid syntax'),
    ('{"is-task": ["maybe"]}', r"Invalid filter 'is-task=\[maybe\]'"),
    ('{"publish": ["80/icmp"]}', "Invalid filter 'publish=80/icmp'"),
    ('[1]', "invalid filter"),
    ('{"name": "web"}', "invalid filter"),
    ('not json', "invalid filter"),
])
def test_malformed_is_invalid(raw: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        filters.parse(raw, filters.CONTAINERS)


def test_image_filters_reject_container_keys() -> None:
    with pytest.raises(InvalidParameter, match="Invalid filter 'name'"):
        filters.parse('{"name": ["x"]}', filters.IMAGES)


def test_matching() -> None:
    f = filters.parse('{"name": ["^/we"], "id": ["abc"], "label": ["a=b", "c"]}', filters.CONTAINERS)
    assert f.match("name", ["/web"], "regex") and not f.match("name", ["/xweb"], "regex")
    assert f.match("id", ["abcdef"], "prefix") and not f.match("id", ["fabc"], "prefix")
    assert f.match("status", ["anything"])           # not filtered on
    assert f.match_labels({"a": "b", "c": ""}) and not f.match_labels({"a": "x", "c": "1"})
    assert not f.match_labels({"a": "b"})
    prune = filters.parse('{"label!": ["keep"]}', filters.CONTAINER_PRUNE)
    assert prune.match_labels({}) and not prune.match_labels({"keep": "1"})
    assert filters.port_matches("8000-8080/tcp", [(8080, "tcp")])
    assert not filters.port_matches("80/udp", [(80, "tcp")])
