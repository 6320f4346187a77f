"""The docker CLI's confirmation before a prune (20.10's command.PromptForConfirmation)."""

from __future__ import annotations

import sys


def confirm(warning: str, force: bool) -> bool:
    """True with `force`; else `warning` and ' [y/N] ' on stdout, and the first line of stdin
    is y or Y, nothing else (not 'yes', nor ' y': the CLI's bufio ReadLine compared with "y")."""
    if force:
        return True
    sys.stdout.write(warning + " [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n").removesuffix("\r").lower() == "y"
