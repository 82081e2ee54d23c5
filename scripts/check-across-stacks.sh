#!/usr/bin/env bash
# Usage: scripts/check-across-stacks.sh   (after .ci/run's legs set up .venv, .venv-tf26 and .venv-tf221)
# A run written on one stack is read by the others: a tiny run trained on TF 2.21 (Python 3.13) and one trained on
# TF 2.15 (Python 3.11) are each sampled by every stack, from their checkpoints (TF 2.6 too) and their exports
# (TF 2.15 and 2.21; TF 2.6 cannot load a newer SavedModel and says to export again from the checkpoint), and the
# samples must be those the writing stack draws (to one level of 255, for another TensorFlow's float rounding).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=scripts/tf26-env.sh
source scripts/tf26-env.sh
tiny=(--width 8 --image-size 16 --batch-size 4 --n-critic 2 --builtin-size 64 --log-every 0 --sample-every 0
      --iterations 4 --split-at 1 --split-above 3 --set output.samples_per_class=2)

sample() {  # sample VENV PATH OUT: 20 samples of every class of PATH, drawn by VENV's stack
  (cd "$work" && "$root/$1/bin/python" "$root/eval.py" "$2" --samples 20 --out "$3" > "$3.log" 2>&1) \
    || { cat "$3.log"; exit 1; }
}

for writer in .venv-tf221 .venv; do
  run=$work/run$writer
  (cd "$work" && "$root/$writer/bin/python" "$root/train.py" --run-dir "$run" "${tiny[@]}" > "$run.log" 2>&1) \
    || { cat "$run.log"; exit 1; }
  sample "$writer" "$run" "$work/written$writer.npz"
  for reader in .venv .venv-tf221 .venv-tf26; do
    sample "$reader" "$run" "$work/checkpoint$writer$reader.npz"
    if [ "$reader" != .venv-tf26 ]; then
      sample "$reader" "$run/export" "$work/export$writer$reader.npz"
    fi
  done
done
"$root/.venv/bin/python" - "$work" <<'PY'
import glob, os, sys
import numpy as np
work = sys.argv[1]
stacks = {".venv": "TF 2.15", ".venv-tf221": "TF 2.21", ".venv-tf26": "TF 2.6"}
for written in sorted(glob.glob(os.path.join(work, "written*.npz"))):
    writer = os.path.basename(written)[len("written"):-len(".npz")]
    expected = np.load(written)["images"].astype(int)
    for read in sorted(glob.glob(os.path.join(work, "*%s.*.npz" % writer))):
        what, _, reader = os.path.basename(read)[:-len(".npz")].partition(writer)
        drawn = np.load(read)["images"].astype(int)
        diff = int(np.abs(drawn - expected).max())
        print("check-across-stacks: written by %s, %s read by %s: largest difference %d/255"
              % (stacks[writer], what, stacks[reader], diff))
        if diff > 1:
            sys.exit("check-across-stacks: %s differs from what %s drew" % (read, writer))
PY
echo "check-across-stacks: passed"
