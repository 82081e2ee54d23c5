#!/usr/bin/env bash
# Sets up (scripts/setup.sh: the stack the Python calls for), then trains on the built-in dataset on CPU (a few
# minutes), exports the generator and writes sample grids. Extra arguments go to train.py (e.g. --run-dir
# runs/other).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${VENV:-.venv}/bin/python" train.py --config configs/quickstart.json "$@"
