#!/usr/bin/env bash
# Creates .venv-tf26 beside the project: Python 3.9 (scripts/python39.sh) with the NPU's stack,
# requirements/npu.txt (TensorFlow 2.6.5, Keras 2.6), and the project. Idempotent: a second run
# installs only what changed since the first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python39.sh .venv-tf26
# shellcheck source=scripts/tf26-env.sh
source scripts/tf26-env.sh
stamp=.venv-tf26/.installed-for
if ! cat pyproject.toml requirements/npu.txt | cmp -s - "$stamp"; then
  # TensorFlow 2.6 comes as tensorflow-cpu here (on an Ascend host, as Huawei's guide installs
  # it), which the project's `tensorflow` requirement does not name: so the pinned stack goes
  # first, and the project on top of it without dependencies.
  .venv-tf26/bin/python -m pip install --quiet -r requirements/npu.txt
  .venv-tf26/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  cat pyproject.toml requirements/npu.txt > "$stamp"
fi
