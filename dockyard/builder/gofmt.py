"""Go's fmt verbs as Docker writes them into history strings (`%q` and `%v` of a []string, a
time.Duration, a *HealthConfig): the classic builder's `#(nop)` comments and BuildKit mode's
`created_by` use the same formatting."""

from __future__ import annotations

from dockyard.errors import go_quote


def go_q_list(items: list[str] | None) -> str:
    """fmt %q of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(i) for i in items or []) + "]"


def go_v_list(items: list[str] | None) -> str:
    """fmt %v of a []string: `[a b]`."""
    return "[" + " ".join(items or []) + "]"


def go_q_rune(value: int) -> str:
    """fmt %q of an int: a quoted rune literal ('\\x00' for 0)."""
    specials = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v",
                39: "\\'", 92: "\\\\"}
    if value in specials:
        return f"'{specials[value]}'"
    if 32 <= value < 127:
        return f"'{chr(value)}'"
    if value < 128:
        return f"'\\x{value:02x}'"
    if value < 0x10000:
        return f"'\\u{value:04x}'"
    return f"'\\U{value:08x}'"


def healthcheck_text(health: dict | None) -> str:
    """fmt %q of a *HealthConfig (Docker 20.10's fields: Test, Interval, Timeout, StartPeriod, Retries)."""
    from dockyard.dockerfile.durations import go_duration   # only a HEALTHCHECK's build needs it

    health = health or {}
    return "&{%s %s %s %s %s}" % (
        go_q_list(health.get("Test")), go_quote(go_duration(health.get("Interval", 0))),
        go_quote(go_duration(health.get("Timeout", 0))),
        go_quote(go_duration(health.get("StartPeriod", 0))), go_q_rune(health.get("Retries", 0)))
