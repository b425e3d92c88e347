#!/usr/bin/env bash
# Set up kerasforge with its test tools, then run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export KFORGE_DATA_DIR="${KFORGE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
# The default set leaves out the long acceptance tests marked `full`; `--full` runs them too.
selection="not gpu and not full"
if [ "${1:-}" = "--full" ]; then
  selection="not gpu"
  shift
fi
exec .venv/bin/python -m pytest -q -m "$selection" "$@"
