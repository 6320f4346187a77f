"""Progress of a transfer, as Docker's JSON messages model it: one line per layer ID that changes
status ("Downloading", "Pushed"...), with bytes done out of a total while bytes move, and status
lines without an ID ("Digest: ..."). The CLI draws them; the API streams them as JSON."""

from __future__ import annotations

from typing import Callable

from dockyard.dataclass import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress event of a transfer: a status line, or a layer's status and byte count."""

    status: str
    id: str = ""                 # a layer's short ID; empty for a status line
    current: int | None = None   # bytes done, while moving bytes
    total: int | None = None

    @property
    def line(self) -> str:
        """The plain text line, as the docker CLI prints a message: `<id>: <status>`."""
        return f"{self.id}: {self.status}" if self.id else self.status

    def to_json(self) -> dict:
        """The Engine API's JSON message for this event."""
        msg: dict = {"status": self.status}
        if self.id:
            msg["id"] = self.id
        if self.current is not None:
            detail = {"current": self.current}
            if self.total:
                detail["total"] = self.total
            msg["progressDetail"] = detail
        elif self.id:
            msg["progressDetail"] = {}
        return msg


ProgressSink = Callable[[Progress], None]


def throttled(report: Callable[[int], None], total: int, steps: int = 200) -> Callable[[int], None]:
    """Report byte counts at most `steps` times over `total` (and at least every 4 MiB)."""
    step = max(1 << 16, min(total // steps if total else 1 << 22, 1 << 22))
    last = [-step]

    def update(done: int) -> None:
        if done - last[0] >= step or (total and done >= total):
            last[0] = done
            report(done)
    return update
