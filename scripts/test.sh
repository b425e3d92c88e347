#!/usr/bin/env bash
# Set up kerasforge with its test tools, then run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export KFORGE_DATA_DIR="${KFORGE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
exec .venv/bin/python -m pytest -q -m "not gpu" "$@"
