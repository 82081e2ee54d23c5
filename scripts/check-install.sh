#!/usr/bin/env bash
# Usage: scripts/check-install.sh [3.11|3.9|3.13]...   (default: all three)
# Installs the project the way most users do, `pip install` of its wheel into a clean virtual
# environment with no constraints file, then trains a tiny run with the installed `splitgan-train`
# and evaluates it with `splitgan-eval`, outside the checkout. Proves that the package's own
# metadata resolves to a working stack on every stack's Python (3.13: TF 2.21 with tf_keras, no tensorflow-gan).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {
  local version=$1 venv=$work/venv-$1
  echo "check-install: Python $version, clean venv, pip install of the wheel without constraints"
  if [ "$version" = 3.9 ]; then
    bash scripts/python39.sh "$venv"
    # shellcheck source=scripts/tf26-env.sh
    source scripts/tf26-env.sh
  else
    local python=${PYTHON:-python3}
    if [ "$version" = 3.13 ]; then python=$(bash scripts/find-python.sh 3.13); fi
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
  fi
  "$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist-$version" "$root"
  "$venv/bin/python" -m pip install --quiet "$work"/dist-"$version"/*.whl
  "$venv/bin/python" -c "import sys, tensorflow as tf; print('check-install: Python %d.%d, TensorFlow %s'
                         % (sys.version_info[:2] + (tf.__version__,)))"
  (cd "$work" && TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/splitgan-train" --run-dir "run-$version" --iterations 2 \
      --width 8 --image-size 16 --batch-size 4 --n-critic 1 --builtin-size 64 --log-every 0 --sample-every 0 \
      --split-at 0 --split-above 10 --set output.samples_per_class=2 > "train-$version.log" 2>&1 \
   && TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/splitgan-eval" "run-$version/export" --grid "grid-$version.png" \
      > "eval-$version.log" 2>&1) || { tail -n 30 "$work"/*-"$version".log; exit 1; }
  grep -h "^done: 2 iterations" "$work/train-$version.log"
  test -s "$work/grid-$version.png"
}

for version in "${@:-3.11 3.9 3.13}"; do
  for v in $version; do check "$v"; done
done
echo "check-install: passed"
