#!/usr/bin/env bash
# Sets up (scripts/setup.sh: the stack the Python calls for), then runs the whole test suite on CPU. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two pytest workers (pytest-xdist), each test file in one worker (module fixtures run once): most tests
# wait on subprocesses or Python, so this halves the time on 2 cores. PYTEST_WORKERS=0 runs in one process.
exec "${VENV:-.venv}/bin/python" -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
