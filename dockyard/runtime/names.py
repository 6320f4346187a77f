"""Container names: validation and Docker-style random `adjective_surname` names."""

from __future__ import annotations

import re
from random import SystemRandom  # secrets.choice's, without secrets' hmac and OpenSSL

from dockyard.errors import InvalidParameter

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

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
    pick = SystemRandom().choice
    return f"{pick(_ADJECTIVES)}_{pick(_SURNAMES)}"


def validate_name(name: str) -> str:
    if not _VALID.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")
