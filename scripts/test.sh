#!/usr/bin/env bash
# Install everything, then run the whole test suite on 2 workers (pytest-xdist): a test waits on
# containers, daemons and registries most of its time, and the other worker uses the machine
# meanwhile. `--dist loadgroup`: each test goes alone to a free worker, but a module's tests that
# share the module's daemon or store stay on one (tests/conftest.py pytest_collection_modifyitems).
# `.venv/bin/pytest` with no options runs the same suite serially.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/pytest -q -p no:cacheprovider -n 2 --dist loadgroup "$@"
