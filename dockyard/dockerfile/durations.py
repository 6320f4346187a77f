"""Go's time.ParseDuration, for HEALTHCHECK's --interval, --timeout, --start-period and
--start-interval (Docker parses them with it): text -> nanoseconds, errors worded as Go's; and
time.Duration.String(), nanoseconds -> text (history comments, health check messages)."""

from __future__ import annotations

import re

__all__ = ["go_duration", "parse_go_duration"]

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = r"([0-9]*)(?:\.([0-9]*))?"  # compiled when first used (re's cache), not at each start
_MAX_INT64 = (1 << 63) - 1


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration -> nanoseconds; errors as Go words them."""
    quoted = '"' + text + '"'
    s = text
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while s:
        m = re.match(_DURATION_PART, s)
        assert m is not None
        whole, frac = m.group(1), m.group(2)
        if whole == "" and not frac:
            raise ValueError(f"time: invalid duration {quoted}")
        s = s[m.end() :]
        i = 0
        while i < len(s) and s[i] != "." and not ("0" <= s[i] <= "9"):
            i += 1
        unit = s[:i]
        s = s[i:]
        if unit == "":
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        if total > _MAX_INT64 + (1 if neg else 0):
            raise ValueError(f"time: invalid duration {quoted}")
    return -total if neg else total


def go_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                text = _frac(ns, size) + unit
                break
    else:
        h, rest = divmod(ns, 3_600_000_000_000)
        m, rest = divmod(rest, 60_000_000_000)
        secs = _frac(rest, 1_000_000_000) + "s"
        text = (f"{h}h{m}m" if h else f"{m}m" if m else "") + secs
    return ("-" if neg else "") + text


def _frac(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
