"""Config.StopTimeout (`--stop-timeout`, compose's stop_grace_period) through Debian's docker CLI
20.10, against dockyard serve and the reference dockerd: shown in inspect's Config as dockerd
shows it (a Go *int: absent when unset, 0 when given 0), and the wait of a stop or restart that
names no `-t`. The scenario is mostly waits (stop timeouts, a handler's 4 s): it runs on both
engines at once (`engines`, `on_both`), each engine's outcome asserted on its own."""

from __future__ import annotations

import json
import time

from tests.interop.conftest import Engine, on_both

# On SIGTERM: say so, then take 4 s to exit with 3. A stop that waits its 1 s StopTimeout kills
# it first (137); one that waited the default 10 s would see it exit 3.
SLOW_EXIT = ("trap 'echo term; sleep 4; exit 3' TERM; echo up; "
             "while :; do sleep 0.1; done")


def _config(engine: Engine, name: str) -> dict:
    return json.loads(engine.docker("inspect", name).stdout)[0]["Config"]


def test_stop_timeout(engines: tuple[Engine, Engine]) -> None:
    on_both(engines, _stop_timeout)


def _stop_timeout(engine: Engine) -> None:
    names = []
    try:
        for name, flags in (("st-none", []), ("st-zero", ["--stop-timeout", "0"]),
                            ("st-three", ["--stop-timeout", "3"])):
            engine.docker("create", "--network", "none", "--name", name, *flags, "busybox", "true")
            names.append(name)
        assert "StopTimeout" not in _config(engine, "st-none")
        assert _config(engine, "st-zero")["StopTimeout"] == 0
        assert _config(engine, "st-three")["StopTimeout"] == 3

        engine.docker("run", "-d", "--network", "none", "--name", "st-slow", "--stop-timeout", "1",
                      "busybox", "sh", "-c", SLOW_EXIT)
        names.append("st-slow")
        for _ in range(2):       # stop, then restart (a stop too) and stop again
            _wait_log(engine, "st-slow", "up")
            engine.docker("stop", "st-slow")
            state = json.loads(engine.docker("inspect", "st-slow").stdout)[0]["State"]
            assert (state["Status"], state["ExitCode"]) == ("exited", 137)
            assert engine.docker("logs", "st-slow").stdout.decode().split()[-1] == "term"
            engine.docker("start", "st-slow")
        _wait_log(engine, "st-slow", "up", count=3)
        engine.docker("restart", "st-slow")      # its stop waits 1 s too, then it runs again
        _wait_log(engine, "st-slow", "up", count=4)
        assert engine.docker("logs", "st-slow").stdout.decode().split().count("term") == 3
        # an explicit -t still wins: the handler's exit 3 comes before a 60 s timeout
        engine.docker("stop", "-t", "60", "st-slow")
        assert json.loads(engine.docker("inspect", "st-slow").stdout)[0]["State"]["ExitCode"] == 3
    finally:
        for name in names:
            engine.docker("rm", "-f", name, check=False)


def _wait_log(engine: Engine, name: str, word: str, count: int = 1) -> None:
    deadline = time.monotonic() + 60
    while engine.docker("logs", name).stdout.decode().split().count(word) < count:
        assert time.monotonic() < deadline, f"{name} never logged {word!r} {count} times"
        time.sleep(0.1)
