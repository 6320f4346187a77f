#!/usr/bin/env bash
# Install everything, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
