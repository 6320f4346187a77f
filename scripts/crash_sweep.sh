#!/usr/bin/env bash
# The crash-point sweeps of tests/reliability/test_crash_points.py at full size: every call of
# every syscall a sweep lists (rename, unlink, unlinkat, fsync, mkdir, mkdirat, syncfs) is a kill -9
# point, where the suite takes a sample; and ten rounds of the concurrent mixed operations (260).
# Prints the figures at the end. Needs root and strace.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKYARD_CRASH_SWEEP=full exec .venv/bin/pytest -q -s -p no:cacheprovider tests/reliability/test_crash_points.py \
    tests/reliability/test_concurrency.py::test_mixed_operations_at_once "$@"
