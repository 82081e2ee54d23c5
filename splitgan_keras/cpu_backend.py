"""The CPU's fast path, decided before TensorFlow loads: its oneDNN kernels.

TensorFlow 2.15 turns oneDNN on by itself only on CPUs with AVX-512 VNNI, AVX-512 BF16 or AMX, and
TensorFlow 2.6 never; elsewhere it runs its Eigen kernels. On a 2-core AMD EPYC with AVX2 only, the
reference iteration took 31.2 s with Eigen and 24.8 s with TF_ENABLE_ONEDNN_OPTS=1 (the fp32 matmul
ceiling 80 -> 159 GFLOP/s), so the package turns it on when it is imported, unless the user set the
variable (their setting wins) or TensorFlow was imported first (then it has decided already).
The golden, determinism and resume tests run with it on both stacks (tests/conftest.py imports the
package before TensorFlow).
"""
from __future__ import annotations

import os
import sys

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
_decided_by = []  # who decided: "splitgan-keras", "the user" or "TensorFlow" (imported first)


def choose() -> None:
    """Sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow loads, unless the user set it."""
    if _decided_by:
        return
    if VARIABLE in os.environ:
        _decided_by.append("the user")
    elif "tensorflow" in sys.modules:
        _decided_by.append("TensorFlow")
    else:
        os.environ[VARIABLE] = "1"
        _decided_by.append("splitgan-keras")


def describe() -> str:
    """Which kernels the CPU runs, and who decided, e.g. "oneDNN (TF_ENABLE_ONEDNN_OPTS=1, set by splitgan-keras)"."""
    who = _decided_by[0] if _decided_by else "TensorFlow"
    value = os.environ.get(VARIABLE)
    if who == "TensorFlow" or value is None:
        return "TensorFlow's default (oneDNN on CPUs with AVX-512 VNNI/BF16 or AMX from TF 2.9, else Eigen), " \
               "TensorFlow being imported before splitgan_keras"
    kernels = "Eigen" if value.strip() in ("0", "false", "False") else "oneDNN"
    return "%s (%s=%s, set by %s)" % (kernels, VARIABLE, value, who)
