#!/usr/bin/env bash
# The crash-point sweeps of tests/reliability/test_crash_points.py at full size: every call of
# every syscall listed there (rename, unlink, unlinkat, rmdir, fsync, mkdir) is a kill -9 point,
# where the suite takes a sample. Prints the figures at the end. Needs root and strace.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKYARD_CRASH_SWEEP=full exec .venv/bin/pytest -q -s -p no:cacheprovider tests/reliability/test_crash_points.py "$@"
