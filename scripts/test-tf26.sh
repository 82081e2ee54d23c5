#!/usr/bin/env bash
# The second test leg: sets up .venv-tf26 (Python 3.9, TensorFlow 2.6.5: the NPU's stack, see
# scripts/setup-tf26.sh), then runs the whole test suite on CPU there. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tf26.sh
# shellcheck source=scripts/tf26-env.sh
source scripts/tf26-env.sh
# Two pytest workers (pytest-xdist), each test file in one worker (module fixtures run once): most tests
# wait on subprocesses or Python, so this halves the time on 2 cores. PYTEST_WORKERS=0 runs in one process.
exec .venv-tf26/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
