"""Docker's human units (go-units): sizes in SI and binary units, durations, "... ago"."""

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
