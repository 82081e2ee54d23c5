"""Optimizer construction and slot access with the TF 2.6 (OptimizerV2) behaviour on every TF.

The class splitting copies Adam's m and v rows and the TF1 import fills them, so this project
always uses the OptimizerV2 Adam (compat.OptimizerV2Adam). This module is the only place that
unwraps loss-scale optimizers.
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import tensorflow as tf

from splitgan_keras import compat

SLOT_NAMES = ("m", "v")


class LinearDecay:
    """lr * max(0, 1 - iteration / total), read from an iteration variable at every update.

    Both optimizers decay with the *generator* iteration (as the original feeds one `_iteration`
    to both), so the schedule follows a shared counter rather than each optimizer's step count.
    """

    def __init__(self, initial: float, iteration: tf.Variable, total: int):
        self.initial, self.iteration, self.total = initial, iteration, total

    def __call__(self):
        progress = tf.cast(self.iteration, tf.float32) / float(self.total)
        return self.initial * tf.maximum(0.0, 1.0 - progress)


def adam(learning_rate: Union[float, Callable[[], tf.Tensor]], beta1: float, beta2: float,
         epsilon: float) -> tf.keras.optimizers.Optimizer:
    """An OptimizerV2 Adam (TF1's update rule: bias correction folded into the step size)."""
    return compat.OptimizerV2Adam(learning_rate=learning_rate, beta_1=beta1, beta_2=beta2, epsilon=epsilon)


def unwrap(optimizer):
    """The optimizer that owns the slots: loss-scale wrappers (Keras or NPU) are peeled off."""
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


def loss_scale_state(optimizer):
    """The trackable holding a loss-scale wrapper's dynamic scale and good-step counter, or None.

    Keras tracks it as the wrapper's `loss_scale` dependency (TF 2.6 and 2.15 alike); the NPU
    wrapper inherits it. Checkpointing it alone keeps checkpoints independent of the wrapper class.
    """
    return getattr(optimizer, "_loss_scale", None) if hasattr(optimizer, "inner_optimizer") else None


def build(optimizer, variables: Sequence[tf.Variable]) -> None:
    """Creates the slots and step counter now, so that updates may run inside tf.cond branches."""
    unwrap(optimizer)._create_all_weights(list(variables))  # OptimizerV2's own slot builder


def slot(optimizer, variable: tf.Variable, name: str) -> tf.Variable:
    """Adam's `m` or `v` for `variable`."""
    return unwrap(optimizer).get_slot(variable, name)

