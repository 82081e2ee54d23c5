"""Which adapter release the double behaves as: NPU_DOUBLE_BRANCH names a branch of
Ascend/tensorflow (r1.11.0, r1.12.0, r1.13.0, ... or master, the default). What differs, from the
branches' tf_adapter_2.x/python/npu_device sources:

  before r1.12  no set_device_sat_mode / get_device_sat_mode / is_inf_nan_enabled; NpuConfig has no
                `deterministic`; precision_mode allows only its first five values
  r1.12         set_device_sat_mode and get_device_sat_mode; no is_inf_nan_enabled
  r1.13 on      set_device_sat_mode and is_inf_nan_enabled (get_device_sat_mode gone); the loss-scale
                optimizer defers to Keras' in INF/NaN mode
  before r1.13  precision_mode defaults to 'allow_fp32_to_fp16' (from r1.13: None, the chip's default)
"""
import os
import re

MASTER = (99, 0)


def branch():
    """(major, minor) of NPU_DOUBLE_BRANCH; MASTER for master."""
    name = os.getenv("NPU_DOUBLE_BRANCH", "master")
    match = re.fullmatch(r"r(\d+)\.(\d+)\.\d+", name)
    return (int(match.group(1)), int(match.group(2))) if match else MASTER


def at_least(major, minor):
    return branch() >= (major, minor)
