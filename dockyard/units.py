"""Docker's human units (go-units): sizes in SI and binary units, durations, "... ago"; and the
values go-units reads for the docker CLI's flags: sizes (RAMInBytes: `-m 64m`, `--shm-size`) and
ulimits (ParseUlimit: `--ulimit nofile=100:200`), shared by `run` and `build`, in process and as a
light client (no regular expressions: the client does not load `re`)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def _go_g(value: float, precision: int) -> str:
    text = f"{value:.{precision}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{exp[0]}{int(exp[1:]):02d}"
    return text


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal (SI) units, `%.3g`."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{_go_g(size, precision)}{_UNITS[i]}"


_BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, `%.4g` (docker info's Total Memory, docker stats)."""
    i = 0
    while size >= 1024.0 and i < len(_BINARY_UNITS) - 1:
        size /= 1024.0
        i += 1
    return f"{_go_g(size, 4)}{_BINARY_UNITS[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds / 3600))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // (24 * 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // (24 * 30)} months"
    return f"{hours // (24 * 365)} years"


def since(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "N/A"
    if now is None:
        from datetime import datetime, timezone  # a time shown: not a build's (tests/test_start_up.py)

        now = datetime.now(timezone.utc)
    return human_duration(max(0.0, (now - moment).total_seconds())) + " ago"


_DIGITS = "0123456789"
_RAM_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def go_parse_int(text: str, base: int = 10) -> int:
    """Go's strconv.ParseInt(text, base, 64), base 10 or 0 (pflag's Int64 flags: `0x10`, `0o17`,
    `017`, `0b1`, `1_000`), which Python's int() is not (it takes spaces and other digits)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    radix, body = 10, digits
    if base == 0:
        if len(digits) > 1 and digits[0] == "0":
            prefix = digits[1].lower()
            radix, body = {"x": (16, digits[2:]), "o": (8, digits[2:]),
                           "b": (2, digits[2:])}.get(prefix, (8, digits[1:]))
        # underscoreOK: an underscore between digits, or after a base prefix
        if "_" in body:
            ok = "__" not in body and not body.endswith("_") and (radix != 10 or not body.startswith("_"))
            body = body.replace("_", "") if ok else "!"
    allowed = "0123456789abcdef"[:radix]
    if not body or any(c not in allowed for c in body.lower()):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    value = int(body, radix) * (-1 if text[:1] == "-" else 1)
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def ram_in_bytes(text: str) -> int:
    """go-units 0.4 RAMInBytes, as the docker CLI 20.10 reads `-m`, `--memory-swap`,
    `--shm-size`: `^(\\d+(\\.\\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`, binary units (`10`, `10k`,
    `10 MiB`, `1.5g`); `invalid size: 'TEXT'` else, and Go's ParseFloat error for `1.2.3`."""
    n, i = len(text), 0
    while i < n and text[i] in _DIGITS:
        i += 1
    if i == 0:
        raise ValueError(f"invalid size: '{text}'")
    while i + 1 < n and text[i] == "." and text[i + 1] in _DIGITS:
        i += 2
        while i < n and text[i] in _DIGITS:
            i += 1
    number, rest = text[:i], text[i:]
    rest = rest[1:] if rest[:1] == " " else rest
    unit = rest[:1].lower() if rest[:1] in ("k", "K", "m", "M", "g", "G", "t", "T", "p", "P") else ""
    rest = rest[len(unit):]
    rest = rest[1:] if rest[:1] in ("i", "I") else rest
    rest = rest[1:] if rest[:1] in ("b", "B") else rest
    if rest:
        raise ValueError(f"invalid size: '{text}'")
    if number.count(".") > 1:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    return int(float(number) * _RAM_UNITS[unit])


# go-units' ulimit names (ulimitNameMapping)
ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
           "rss", "rtprio", "rttime", "sigpending", "stack")


def parse_ulimit(text: str) -> dict[str, object]:
    """go-units ParseUlimit: `NAME=SOFT[:HARD]` as the Engine API's Ulimit, with its errors."""
    name, eq, values = text.partition("=")
    if not eq:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    parts = values.split(":")
    if len(parts) > 2:
        raise ValueError(f"too many limit value arguments - {values}, can only have up to two, `soft[:hard]`")
    hard = go_parse_int(parts[1]) if len(parts) == 2 else None
    soft = go_parse_int(parts[0])
    hard = soft if hard is None else hard
    if hard != -1 and soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Soft": soft, "Hard": hard}
