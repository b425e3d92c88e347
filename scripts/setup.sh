#!/usr/bin/env bash
# Set up kerasforge in ./.venv (idempotent). With --dev, also the test tools.
# On a Debian machine where we are root, also installs the offline Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="."
[ "${1:-}" = "--dev" ] && extras=".[dev,all]"
python3 -m venv .venv >/dev/null 2>&1 || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$extras" 2>&1 \
  | grep -v "^WARNING: Location" || true
if [ "${1:-}" = "--dev" ]; then  # TF Serving's gRPC protos; --no-deps: the wheel requires `tensorflow`,
  # which would replace tensorflow-cpu (kforge serve --grpc-port, tests/serve/test_grpc_service.py)
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps tensorflow-serving-api 2>&1 \
    | grep -v "^WARNING: Location" || true
fi
.venv/bin/python -c "import kerasforge, keras" >/dev/null || { echo "setup failed: kerasforge did not install" >&2; exit 1; }
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's dataset-fashion-mnist (offline Fashion-MNIST) ..." >&2
  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }) \
    || echo "could not install dataset-fashion-mnist; kerasforge will look elsewhere or fall back" >&2
fi
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium (headless browser tests) ..." >&2
  (apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
    || echo "could not install chromium; browser tests will be skipped" >&2
fi
echo "kerasforge is set up in .venv" >&2
