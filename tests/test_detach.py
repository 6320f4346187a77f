"""dockyard/detach.py, bytes in, bytes out: the keys' syntax as dockerd reads it, the reader."""

from __future__ import annotations

import pytest

from dockyard import detach
from dockyard.errors import DockyardError, InvalidParameter


def test_parse() -> None:
    assert detach.parse("") == b"\x10\x11"
    assert detach.parse("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach.parse("a,ctrl-b,ctrl-@,ctrl-_,ctrl-\\,DEL") == b"a\x02\x00\x1f\x1c\x7f"
    for bad in ("ctrl-", "ctrl-1", "ctrl-A", "abc", ",", "a,"):
        with pytest.raises(ValueError):
            detach.parse(bad)
    with pytest.raises(InvalidParameter, match=r"^Invalid detach keys \(ctrl-1\) provided$"):
        detach.parse_for_attach("ctrl-1")
    with pytest.raises(DockyardError, match=r"^Invalid escape keys \(x,\) provided$") as failed:
        detach.parse_for_exec("x,")
    assert failed.value.http_status == 500


def test_escape() -> None:
    escape = detach.Escape()
    assert escape.feed(b"ab\x10") == (b"ab", False)     # held until the next byte tells
    assert escape.feed(b"c") == (b"\x10c", False)       # not the sequence: passed on
    assert escape.feed(b"\x10\x10") == (b"\x10", False)
    assert escape.feed(b"\x11after") == (b"", True)     # what follows the keys is dropped
    assert detach.Escape(b"x").feed(b"before x") == (b"before ", True)
