"""A blob download reads the socket up to 1 MiB at a time (httpcore's default is 64 KiB, each
piece through h11 and a dozen Python calls): the bytes are the same, in fewer, larger pieces."""

from __future__ import annotations

import os

from dockyard.digest import Digest
from dockyard.transport.registry.client import READ_SIZE, RegistryClient
from dockyard.transport.registry.hosts import RegistrySettings
from dockyard.transport.streams import BytesAt
from tests.registry.registryd import RegistryServer


def test_a_blob_arrives_in_pieces_larger_than_httpcores_default(registry: RegistryServer) -> None:
    data = os.urandom(6 << 20)
    digest = Digest.of_bytes(data)
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        client.upload_blob("big/blob", digest, len(data), lambda offset: BytesAt(data, offset))
        pieces = list(client.iter_blob("big/blob", digest, size=len(data)))
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) > 64 * 1024  # httpcore alone never returns more
    assert all(len(p) <= READ_SIZE for p in pieces)
