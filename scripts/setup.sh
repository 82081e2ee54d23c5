#!/usr/bin/env bash
# Creates .venv beside the project and installs the project with the stack its Python calls for:
#   Python 3.9-3.11    TensorFlow 2.15.1 (requirements/ci.txt, as constraints of the project's own bounds)
#   Python 3.12-3.13   TensorFlow 2.21 with tf_keras (requirements/tf221.txt, pinned; the project without deps)
# PYTHON picks the Python (default python3), VENV the folder (default .venv); SPLITGAN_STACK=tf221 picks the
# newest stack on Python 3.10 or 3.11 too. (The NPU's stack, TF 2.6.5 on Python 3.9: scripts/setup-tf26.sh.)
# Idempotent: a second run installs only what changed since the first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || {
  echo "setup: cannot run '$PYTHON'; set PYTHON to a Python 3.9-3.13" >&2; exit 2; }
case "$version" in
  3.9|3.10|3.11) stack=${SPLITGAN_STACK:-tf215} ;;
  3.12|3.13) stack=${SPLITGAN_STACK:-tf221} ;;
  *) echo "setup: $PYTHON is Python $version; the project runs on Python 3.9-3.11 (TensorFlow 2.15) and" \
          "3.12-3.13 (TensorFlow 2.21): set PYTHON to one of them, e.g. PYTHON=python3.11" >&2; exit 2 ;;
esac
case "$stack:$version" in
  tf215:3.9|tf215:3.10|tf215:3.11) requirements=requirements/ci.txt
                                   described="TensorFlow 2.15.1, Keras 2" ;;
  tf221:3.10|tf221:3.11|tf221:3.12|tf221:3.13) requirements=requirements/tf221.txt
                                               described="TensorFlow 2.21 with tf_keras (Keras 2)" ;;
  *) echo "setup: SPLITGAN_STACK=$stack on Python $version: expected tf215 (Python 3.9-3.11) or tf221" \
          "(Python 3.10-3.13)" >&2; exit 2 ;;
esac
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.stack" 2>/dev/null)" != "$stack $version" ]; then
  echo "setup: $VENV holds another stack or Python; making it anew"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  echo "$stack $version" > "$VENV/.stack"
fi
echo "setup: Python $version, $described ($requirements) in $VENV"
stamp=$VENV/.installed-for
if ! cat pyproject.toml "$requirements" | cmp -s - "$stamp"; then
  if [ "$stack" = tf215 ]; then
    "$VENV/bin/python" -m pip install --quiet -c "$requirements" -e ".[test]"
  else
    # Pinned whole, then the project on top without its dependencies: pip reads the project's bounds by the
    # Python's version, which on 3.10-3.11 name the TF 2.15 stack.
    "$VENV/bin/python" -m pip install --quiet -r "$requirements"
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
  fi
  cat pyproject.toml "$requirements" > "$stamp"
fi
