"""Container names: validation and Docker-style random `adjective_surname` names."""

from __future__ import annotations

import os
import re

from dockyard.errors import InvalidParameter

_VALID = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

_ADJECTIVES = (
    "agile", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "eager", "fair",
    "fond", "gentle", "happy", "hardy", "jolly", "keen", "kind", "lucid", "merry", "nimble",
    "noble", "patient", "proud", "quiet", "quick", "serene", "sharp", "steady", "sunny", "swift",
    "tender", "tidy", "upbeat", "vivid", "warm", "wise", "witty", "zen",
)
_SURNAMES = (
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday", "fermi",
    "feynman", "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "maxwell",
    "meitner", "newton", "noether", "pascal", "planck", "ritchie", "shannon", "tesla", "thompson",
    "turing", "volta", "wozniak",
)


def random_name() -> str:
    return f"{_pick(_ADJECTIVES)}_{_pick(_SURNAMES)}"


def _pick(words: tuple[str, ...]) -> str:
    """secrets.choice(words), uniform over the kernel's random bytes, without secrets (hmac,
    OpenSSL) nor random (math, bisect, its Mersenne Twister: loaded for this alone by a cold
    build's one-shot containers): 32 random bits, those of the last partial round of
    len(words) refused."""
    limit = (1 << 32) - (1 << 32) % len(words)
    while True:
        value = int.from_bytes(os.urandom(4), "big")
        if value < limit:
            return words[value % len(words)]


def validate_name(name: str) -> str:
    if not _VALID.fullmatch(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")
