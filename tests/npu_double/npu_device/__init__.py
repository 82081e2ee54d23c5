"""A test double of Huawei's Ascend TF2 adapter `npu_device`, written from ../shared/NPU_ADAPTER.md.

It follows the documented API (section 7 checklist): the exports, the validated global options
singleton, open()/as_default() with ASCEND_DEVICE_ID and rank checks, the handle, the
NpuLossScaleOptimizer subclassing Keras' LossScaleOptimizer, and the distribute functions (no-ops
on one device; on a cluster worker, collectives the ranks really exchange: link.py, the double's HCCL).
Like the adapter, as_default() forces jit_compile off in tf.function and turns tf.device into a
no-op. Computation stays on the CPU.

For tests it appends one JSON line per event (option set, open, as_default, optimizer wrapped,
a jit_compile request, a broadcast, every all_reduce that runs) to the file named by $NPU_DOUBLE_LOG.
"""
import contextlib
import json
import os

from npu_device import branches, configs, distribute, npu_device, ops, train  # noqa: F401
from npu_device.configs import global_options
from npu_device.npu_device import open, npu_compat_function  # noqa: A004

__all__ = ["open", "npu_compat_function", "gen_npu_ops", "global_options", "set_npu_loop_size", "npu_run_context",
           "set_device_sat_mode", "get_device_sat_mode", "is_inf_nan_enabled", "keep_dtype_scope", "npu_recompute_scope",
           "distribute", "train", "ops", "compat", "configs"]

gen_npu_ops = None
compat = None
# The device's overflow mode: 0 saturation (the 910's), 1 INF/NaN; NPU_DOUBLE_SAT_MODE sets it for tests.
_state = {"loop_size": int(os.getenv("NPU_LOOP_SIZE", "1")), "sat_mode": int(os.getenv("NPU_DOUBLE_SAT_MODE", "0"))}


def record(event, **details):
    path = os.environ.get("NPU_DOUBLE_LOG")
    if path:
        with builtins_open(path, "a") as f:
            f.write(json.dumps(dict(event=event, **details)) + "\n")


builtins_open = __builtins__["open"] if isinstance(__builtins__, dict) else __builtins__.open


def set_npu_loop_size(loop_size):
    if loop_size <= 0:
        return
    _state["loop_size"] = loop_size
    record("loop_size", value=loop_size)


def set_device_sat_mode(mode):
    if mode > 2:
        return
    _state["sat_mode"] = mode


def get_device_sat_mode():
    return _state["sat_mode"]


def is_inf_nan_enabled():
    return _state["sat_mode"] == 1


# What an older release lacks (branches.py).
for _name, _present in (("set_device_sat_mode", branches.at_least(1, 12)),
                        ("get_device_sat_mode", branches.at_least(1, 12) and not branches.at_least(1, 13)),
                        ("is_inf_nan_enabled", branches.at_least(1, 13))):
    if not _present:
        del globals()[_name]
        __all__.remove(_name)


@contextlib.contextmanager
def keep_dtype_scope():
    yield


@contextlib.contextmanager
def npu_recompute_scope():
    yield


@contextlib.contextmanager
def npu_run_context(*args, **kwargs):
    yield
