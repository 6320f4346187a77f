"""One RegistryClient serves a push's layer threads at once: the first requests of all of them
ping the registry once (each thread pinged, and kept its own HTTP client, before), and none of
them sees a half-made client (the endpoint and authenticator are set before the client)."""

from __future__ import annotations

import threading
import time

from dockyard.digest import Digest
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.registry.hosts import RegistrySettings
from tests.registry.registryd import RegistryServer


def test_threads_starting_together_ping_once(registry: RegistryServer) -> None:
    threads = 6
    start = threading.Barrier(threads)
    sizes: list[int | None] = []
    errors: list[BaseException] = []
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        def head(i: int) -> None:
            start.wait()
            try:
                sizes.append(client.blob_size("threads/repo", Digest.of_bytes(b"%d" % i)))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        workers = [threading.Thread(target=head, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert not errors and sizes == [None] * threads
    deadline = time.monotonic() + 60
    while len(registry.requests()) < threads + 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the access log is written as each answer goes out
    requests = registry.requests()
    assert [r for r in requests if r[1] == "/v2/"] == [("GET", "/v2/", 200)]
    assert sum(1 for r in requests if r[0] == "HEAD") == threads
