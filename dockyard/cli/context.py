"""What a CLI command gets: the store root and the process's streams."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, TextIO

from dockyard.store.store import Store


@dataclass
class CliContext:
    root: Path
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @cached_property
    def store(self) -> Store:
        return Store(self.root)

    @property
    def stdin_binary(self) -> BinaryIO:
        return sys.stdin.buffer

    @property
    def stdout_binary(self) -> BinaryIO:
        self.stdout.flush()
        return sys.stdout.buffer
