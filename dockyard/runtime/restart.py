"""Restart policies (`--restart no|always|unless-stopped|on-failure[:N]`), decided as Docker's
restart manager decides them (moby's restartmanager/restartmanager.go):

- `always` restarts after any exit, `unless-stopped` unless the user stopped or killed the
  container, `on-failure` after a non-zero exit while fewer than N restarts were made (N = 0: no
  limit), `no` never;
- a stop or a kill by the user ends the restarts until the next start (`exit_on_next`);
- the delay before a restart is 100 ms, doubled at each restart up to one minute, and back to
  100 ms once a run lasted 10 seconds.

The container's monitor (its own process) applies this after each exit; `dockyard serve` applies
`should_restart` at its start to containers that a crash or a reboot stopped.
"""

from __future__ import annotations

from dockyard.runtime.hostconfig import RestartPolicy

FIRST_DELAY = 0.1        # seconds
MAX_DELAY = 60.0
STEADY_RUN = 10.0        # a run this long resets the delay


def should_restart(policy: RestartPolicy, exit_code: int, manually_stopped: bool,
                   restart_count: int) -> bool:
    """Whether an exit with `exit_code` is followed by a restart."""
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not manually_stopped
    if policy.name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


class Backoff:
    """The delays between the restarts of one monitor's container."""

    def __init__(self) -> None:
        self.delay = 0.0

    def next(self, ran_for: float) -> float:
        """The delay before the next restart of a run that lasted `ran_for` seconds."""
        if ran_for >= STEADY_RUN:
            self.delay = 0.0
        self.delay = FIRST_DELAY if self.delay == 0 else min(self.delay * 2, MAX_DELAY)
        return self.delay
