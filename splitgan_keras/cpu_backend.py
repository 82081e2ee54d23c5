"""What TensorFlow's start is decided before it loads: the CPU's kernels (oneDNN) and its C++ log level.

TensorFlow 2.15 turns oneDNN on by itself only on CPUs with AVX-512 VNNI, AVX-512 BF16 or AMX, and
TensorFlow 2.6 never; elsewhere it runs its Eigen kernels. On a 2-core AMD EPYC with AVX2 only, the
reference iteration took 31.2 s with Eigen and 24.8 s with TF_ENABLE_ONEDNN_OPTS=1 (the fp32 matmul
ceiling 80 -> 159 GFLOP/s), so the package turns it on when it is imported, unless the user set the
variable (their setting wins) or TensorFlow was imported first (then it has decided already).

Except on TensorFlow before 2.9 on a CPU that is not Intel's: the oneDNN 2.x those versions ship is
wrong there. On a 2-core AMD EPYC with AVX-512 BF16, TF 2.6.5's first convolution ended the process
with SIGFPE (an integer division by zero inside oneDNN), and with DNNL_MAX_CPU_ISA=AVX2 a 3-channel
convolution returned zeros. There the package leaves TensorFlow's own choice (Eigen).
On a machine without a GPU or NPU, TensorFlow 2.15's C++ start-up writes ERROR lines that are not errors (cuDNN,
cuFFT and cuBLAS factories registered twice, TensorRT not found, the grappler remapper giving up on a graph):
quiet() hides everything below FATAL there (a failure still raises in Python), and only INFO where an accelerator
may speak, unless the user set TF_CPP_MIN_LOG_LEVEL.

The golden, determinism and resume tests run with the package's choice on both stacks
(tests/conftest.py imports the package before TensorFlow).
"""
from __future__ import annotations

import glob
import os
import sys
from typing import Optional, Tuple

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
_ACCELERATOR_DEVICES = ("/dev/nvidia[0-9]*", "/dev/davinci[0-9]*")  # NVIDIA's and Ascend's device files
_TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-gpu")
_decided_by = []  # who decided, as describe() says it


def installed_tensorflow() -> Optional[Tuple[int, int]]:
    """(major, minor) of the installed TensorFlow, read from its distribution without importing it."""
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7
        return None
    for name in _TENSORFLOW_DISTRIBUTIONS:
        try:
            major, minor = metadata.version(name).split(".")[:2]
            return int(major), int(minor)
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


def cpu_vendor() -> str:
    """The CPU's vendor id from /proc/cpuinfo ("GenuineIntel", "AuthenticAMD"; "unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown"


def onednn_reliable(tensorflow: Optional[Tuple[int, int]], vendor: str) -> bool:
    """Whether this TensorFlow's oneDNN computes right on this CPU (see the module's docstring)."""
    return (tensorflow is not None and tensorflow >= (2, 9)) or vendor == "GenuineIntel"


def choose() -> None:
    """Sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow loads, unless the user set it or this
    TensorFlow's oneDNN is wrong on this CPU."""
    if _decided_by:
        return
    if VARIABLE in os.environ:
        _decided_by.append("the user")
    elif "tensorflow" in sys.modules:
        _decided_by.append("TensorFlow")
    elif not onednn_reliable(installed_tensorflow(), cpu_vendor()):
        _decided_by.append("splitgan-keras: TensorFlow before 2.9 miscomputes with oneDNN on %s CPUs" % cpu_vendor())
    else:
        os.environ[VARIABLE] = "1"
        _decided_by.append("splitgan-keras")


def describe() -> str:
    """Which kernels the CPU runs, and who decided, e.g. "oneDNN (TF_ENABLE_ONEDNN_OPTS=1, set by splitgan-keras)"."""
    who = _decided_by[0] if _decided_by else "TensorFlow"
    value = os.environ.get(VARIABLE)
    if who.startswith("splitgan-keras:"):
        return "Eigen (TensorFlow's default, left by %s)" % who
    if who == "TensorFlow" or value is None:
        return "TensorFlow's default (oneDNN on CPUs with AVX-512 VNNI/BF16 or AMX from TF 2.9, else Eigen), " \
               "TensorFlow being imported before splitgan_keras"
    kernels = "Eigen" if value.strip() in ("0", "false", "False") else "oneDNN"
    return "%s (%s=%s, set by %s)" % (kernels, VARIABLE, value, who)


def quiet() -> None:
    """Sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads (see the module's docstring), unless the user set it:
    3 (FATAL only) without a GPU or NPU device file, else 1 (INFO lines hidden; they drown the progress lines)."""
    if LOG_LEVEL in os.environ or "tensorflow" in sys.modules:
        return
    accelerated = any(glob.glob(pattern) for pattern in _ACCELERATOR_DEVICES)
    os.environ[LOG_LEVEL] = "1" if accelerated else "3"
