#!/usr/bin/env bash
# Creates .venv beside the project and installs the project with the CI-pinned stack
# (requirements/ci.txt: TensorFlow 2.15.1, Python 3.11). Idempotent: a second run installs only
# what changed since the first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.installed-for
if ! cat pyproject.toml requirements/ci.txt | cmp -s - "$stamp"; then
  .venv/bin/python -m pip install --quiet -c requirements/ci.txt -e ".[test]"
  cat pyproject.toml requirements/ci.txt > "$stamp"
fi
