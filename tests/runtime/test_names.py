"""A container's random name (runtime/names.py): `adjective_surname`, each word a uniform pick
of the kernel's random bytes (as secrets.choice picks, without secrets nor random: a cold build's
one-shot container is named at each RUN)."""

from __future__ import annotations

from collections import deque

from dockyard.runtime import names


def test_a_pick_refuses_the_last_partial_round(monkeypatch) -> None:
    words = names._ADJECTIVES
    limit = (1 << 32) - (1 << 32) % len(words)
    drawn = deque([limit, (1 << 32) - 1, len(words) + 3])  # two refused, then word 3
    monkeypatch.setattr(names.os, "urandom", lambda n: drawn.popleft().to_bytes(n, "big"))
    assert names._pick(words) == words[3] and not drawn


def test_random_names_use_every_word() -> None:
    seen = {names.random_name() for _ in range(3000)}
    assert {n.split("_")[0] for n in seen} == set(names._ADJECTIVES)
    assert {n.split("_")[1] for n in seen} == set(names._SURNAMES)
    assert all(names.validate_name(n) == n for n in seen)
