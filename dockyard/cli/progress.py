"""Drawing transfer progress as the docker CLI does: on a terminal one live line per layer with a
bar (rich); otherwise plain `id: status` lines, and no byte counts (the docker CLI drops
progress messages when its output is not a terminal)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from dockyard.engine.registry import Progress  # the events the engine reports
    from rich.progress import TaskID


class PlainProgress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()

    def __call__(self, event: Progress) -> None:
        if event.current is not None:
            return
        with self._lock:
            print(event.line, file=self.out, flush=True)

    def close(self) -> None:
        return None


class LiveProgress:
    """One rich task per layer ID, in the order IDs first appear; status lines print above."""

    def __init__(self, out: TextIO) -> None:
        # rich only for a terminal: a push or pull to a pipe or with -q does not load it (~30 ms
        # of its start; tests/test_start_up.py)
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TextColumn
        from rich.progress import Progress as RichProgress
        from rich.text import Text

        class WhileMoving(BarColumn):
            """A bar and byte counts only while bytes move (Docker shows none for a status)."""

            def __init__(self, inner: BarColumn | DownloadColumn) -> None:
                super().__init__()
                self.inner = inner

            def render(self, task):  # noqa: ANN001, ANN201 - rich's column protocol
                if not task.started or task.fields.get("done"):
                    return Text("")
                return self.inner.render(task)

        self._console = Console(file=out)
        self._bars = RichProgress(
            TextColumn("{task.fields[label]}"), WhileMoving(BarColumn(bar_width=40)), WhileMoving(DownloadColumn()),
            console=self._console, transient=False, auto_refresh=True, refresh_per_second=8)
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._bars.start()

    def __call__(self, event: Progress) -> None:
        with self._lock:
            if not event.id:
                self._bars.console.print(event.status, highlight=False, markup=False)
                return
            label = event.line
            task = self._tasks.get(event.id)
            if task is None:
                task = self._tasks[event.id] = self._bars.add_task("", label=label, total=None, start=False)
            if event.current is not None:
                self._bars.start_task(task)
                self._bars.update(task, label=label, completed=event.current, total=event.total or None, done=False)
            else:
                self._bars.update(task, label=label, done=True)

    def close(self) -> None:
        self._bars.stop()


class QuietProgress:
    """`-q`: nothing."""

    def __call__(self, event: Progress) -> None:
        return None

    def close(self) -> None:
        return None


def progress_for(out: TextIO, quiet: bool = False) -> PlainProgress | LiveProgress | QuietProgress:
    if quiet:
        return QuietProgress()
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        return LiveProgress(out)
    return PlainProgress(out)
