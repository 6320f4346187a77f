"""Restart decisions and delays as moby's restartmanager makes them (pure; the containers that
restart are tested in tests/interop/test_restart.py against dockerd)."""

from __future__ import annotations

import pytest

from dockyard.runtime.hostconfig import RestartPolicy
from dockyard.runtime.restart import Backoff, should_restart


@pytest.mark.parametrize("policy, code, stopped, count, restart", [
    ("no", 1, False, 0, False),
    ("always", 0, False, 0, True),
    ("always", 0, True, 9, True),           # even one the user stopped (at a daemon's start)
    ("unless-stopped", 0, False, 0, True),
    ("unless-stopped", 1, True, 0, False),
    ("on-failure", 0, False, 0, False),
    ("on-failure", 3, True, 0, True),       # a stop does not count, the exit code does
])
def test_should_restart(policy: str, code: int, stopped: bool, count: int, restart: bool) -> None:
    assert should_restart(RestartPolicy(policy), code, stopped, count) is restart


def test_on_failure_retries() -> None:
    policy = RestartPolicy("on-failure", 2)
    assert [should_restart(policy, 1, False, n) for n in range(4)] == [True, True, False, False]


def test_backoff_doubles_to_a_minute_and_resets_after_a_steady_run() -> None:
    backoff = Backoff()
    delays = [backoff.next(0.5) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and delays[-1] == 60.0
    assert backoff.next(10.0) == 0.1
