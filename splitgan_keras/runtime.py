"""Device and precision setup: the only module that knows about CPU, GPU and NPU.

`setup` runs before any model is built and returns a small Runtime object that the rest of the
code asks for what differs between devices.
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import tensorflow as tf

from splitgan_keras.errors import UserError


@dataclasses.dataclass(frozen=True)
class Runtime:
    device: str   # "cpu" | "gpu"
    policy: str   # Keras mixed-precision policy name

    def wrap_optimizer(self, optimizer):
        """The optimizer as the training step must use it on this device and precision."""
        return optimizer

    def describe(self) -> str:
        return "device %s, precision policy %s" % (self.device, self.policy)


def _resolve_device(requested: str) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if requested == "auto":
        return "gpu" if gpus else "cpu"
    if requested == "gpu" and not gpus:
        raise UserError("--device gpu: TensorFlow sees no GPU on this machine (check the driver, "
                        "CUDA_VISIBLE_DEVICES, or `docker run --gpus all`); use --device cpu")
    if requested == "npu":
        raise UserError("--device npu is not supported by this version yet; use --device cpu or gpu")
    return requested


def setup(runtime_cfg, seed: int) -> Runtime:
    """Configures TensorFlow for the device and precision and seeds every generator.

    Args:
      runtime_cfg: config.RuntimeConfig.
      seed: seed of Python, numpy and TensorFlow's global generator (weight initialisation).
    """
    if runtime_cfg.precision != "fp32":
        raise UserError("--precision %s is not supported by this version yet; use --precision fp32"
                        % runtime_cfg.precision)
    device = _resolve_device(runtime_cfg.device)
    if device == "gpu":
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    else:
        tf.config.set_visible_devices([], "GPU")
    seed_everything(seed)
    return Runtime(device=device, policy="float32")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)


def enable_determinism() -> None:
    """Makes TensorFlow ops deterministic (TF >= 2.9 API; TF 2.6 reads TF_DETERMINISTIC_OPS)."""
    if hasattr(tf.config.experimental, "enable_op_determinism"):
        tf.config.experimental.enable_op_determinism()
    else:
        import os
        os.environ["TF_DETERMINISTIC_OPS"] = "1"
