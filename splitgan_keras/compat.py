"""What differs between the two supported stacks: TF 2.6.5 / Keras 2.6 (the Ascend adapter's) and
TF 2.15 / Keras 2 (CI's). The only module that asks which TensorFlow it runs on.

  - the OptimizerV2 Adam, whose slots the class split copies: `tf.keras.optimizers.Adam` on 2.6,
    `tf.keras.optimizers.legacy.Adam` from 2.11 (the new class has no `get_slot`);
  - tf.data's autotune switch: `Options.autotune.enabled` (2.6 and later), before that
    `experimental_optimization.autotune`;
  - op determinism: `tf.config.experimental.enable_op_determinism` from 2.9, the
    TF_DETERMINISTIC_OPS variable before;
  - bfloat16 convolutions on the CPU: TF 2.6's CPU Conv2D returns float32 for bfloat16 inputs,
    which breaks Keras' mixed_bfloat16 policy (checked by running one, not by version number);
  - the coordination service that newer MultiWorkerMirroredStrategy starts (TF 2.6 has none).
"""
from __future__ import annotations

import functools
import os

import tensorflow as tf
from tensorflow.python.eager import context as eager_context

_TF_VERSION = tuple(int(part) for part in tf.__version__.split(".")[:2])  # (2, 6) or (2, 15)

OptimizerV2Adam = getattr(tf.keras.optimizers, "legacy", tf.keras.optimizers).Adam


def without_autotuning(options: tf.data.Options) -> tf.data.Options:
    """`options` with tf.data's autotuner switched off."""
    if hasattr(options, "autotune"):
        options.autotune.enabled = False
    else:
        options.experimental_optimization.autotune = False
    return options


def enable_determinism() -> None:
    """Makes TensorFlow ops deterministic (must run before the ops it should affect are built)."""
    if hasattr(tf.config.experimental, "enable_op_determinism"):
        tf.config.experimental.enable_op_determinism()
    else:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"


@functools.lru_cache(maxsize=None)
def cpu_bfloat16_convolutions() -> bool:
    """True when a bfloat16 convolution on the CPU computes in bfloat16, so that Keras' mixed_bfloat16
    policy can train there. Never on TF 2.6: with Eigen it computes in float32, and with oneDNN
    (cpu_backend.py turns it on) some convolutions still return float32, which a bfloat16 bias
    cannot be added to (seen in the mixed-precision tests at width 8, 16x16)."""
    if _TF_VERSION < (2, 9):
        return False
    with tf.device("/cpu:0"):
        out = tf.nn.conv2d(tf.zeros([1, 1, 1, 1], tf.bfloat16), tf.zeros([1, 1, 1, 1], tf.bfloat16), 1, "VALID")
    return out.dtype == tf.bfloat16


def xla_compiles_critic_loop() -> bool:
    """Whether XLA compiles the training iteration with its critic steps in a tf.while_loop. TF 2.6's
    does not ("Dynamic degenerated dimension that's not most-minor nor most-major is not supported",
    for the slices of the critic inputs taken with the loop counter); TF 2.15's does (versions between
    are untested, so they keep the steps unrolled)."""
    return _TF_VERSION >= (2, 15)


def without_coordination_service() -> None:
    """Keeps a TF_CONFIG job's start-up where Python can watch it; call before the strategy is made.

    Newer MultiWorkerMirroredStrategy starts TensorFlow's coordination service, whose wait for the
    other tasks holds Python's interpreter lock: no signal handler and no watcher thread runs until
    every task has come, and the service's register timeout does not end the leader's wait
    (measured on TF 2.15). Without it a job starts as on TF 2.6, which has no such service: the
    wait is in the first collective, where startup.bounded watches it, and the strategy's own
    health-check thread watches the peers afterwards. The switch is only in the private context.
    """
    context = eager_context.context()
    if hasattr(context, "configure_coordination_service") and context.coordination_service is None:
        context.configure_coordination_service(service_type="")
