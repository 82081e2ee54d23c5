#!/usr/bin/env bash
# Sets up, then trains on the built-in dataset on CPU (a few minutes), exports the generator and
# writes sample grids. Extra arguments go to train.py (e.g. --run-dir runs/other).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python train.py --config configs/quickstart.json "$@"
