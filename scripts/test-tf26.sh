#!/usr/bin/env bash
# The second test leg: sets up .venv-tf26 (Python 3.9, TensorFlow 2.6.5: the NPU's stack, see
# scripts/setup-tf26.sh), then runs the whole test suite on CPU there. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tf26.sh
# shellcheck source=scripts/tf26-env.sh
source scripts/tf26-env.sh
exec .venv-tf26/bin/python -m pytest -q "$@"
