"""Applies a SplitPlan to the model: the only code that changes model state at a split.

No shape changes, so the compiled training step, the optimizers and the checkpoint layout all
stay as they are. Optimizer state is copied, never reset: the critic's class-head rows of each
new class receive the parent's weights, bias and Adam m and v, as the original does.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from splitgan_keras import optimizers
from splitgan_keras.splitting import SplitPlan


def _copy_classes(variable: tf.Variable, source: np.ndarray, axis: int) -> None:
    """variable[..., j, ...] = variable[..., source[j], ...] along `axis` (classes), in one assignment."""
    variable.assign(tf.gather(variable, source, axis=axis))


def class_head_variables(critic):
    """(variable, class axis) of the critic's class head: kernel [D, M] and bias [M]."""
    head = critic.class_head
    return [(head.kernel, 1), (head.bias, 0)]


def apply_split(plan: SplitPlan, gan) -> None:
    """Writes the plan into a SplitGAN: class head rows and their Adam slots, tree, class count, labels."""
    source = np.arange(gan.generator.max_classes)
    parents = np.flatnonzero(plan.children >= 0)
    source[plan.children[parents]] = parents
    for variable, axis in class_head_variables(gan.critic):
        _copy_classes(variable, source, axis)
        for slot_name in optimizers.SLOT_NAMES:
            _copy_classes(optimizers.slot(gan.d_optimizer, variable, slot_name), source, axis)
    for generator in filter(None, (gan.generator, gan.ema_generator)):
        generator.class_tree.assign(plan.tree)
        generator.num_classes.assign(plan.num_classes)
    gan.example_labels.assign(plan.labels)
