from __future__ import annotations

from tests.builder.conftest import daemon  # noqa: F401 - one `dockyard serve` fixture for client-mode tests
