"""Applies a split to the model: the only code that changes model state at a split.

No shape changes, so the compiled training step, the optimizers and the checkpoint layout all
stay as they are. Optimizer state is copied, never reset: the critic's class-head rows of each
new class receive the parent's weights, bias and Adam m and v, as the original does.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from splitgan_keras.models import optimizers
from splitgan_keras.split.rule import SplitPlan


def _copy_classes(variable: tf.Variable, source: np.ndarray, axis: int) -> None:
    """variable[..., j, ...] = variable[..., source[j], ...] along `axis` (classes), in one assignment."""
    variable.assign(tf.gather(variable, source, axis=axis))


def class_head_variables(critic):
    """(variable, class axis) of the critic's class head: kernel [D, M] and bias [M]."""
    head = critic.class_head
    return [(head.kernel, 1), (head.bias, 0)]


def apply_split(plan: SplitPlan, tree_after: np.ndarray, gan) -> None:
    """Writes a split into a SplitGAN: the class head rows of every new class and their Adam slots
    (copied from its parent), the class state (tree, parents, active count) and the example labels.

    Args:
      plan: the rule's SplitPlan; tree_after: float32 [M, M] (allocation.allocate).
    """
    state = gan.generator.class_state
    classes_before = state.num_active()
    source = np.arange(state.max_classes)
    source[classes_before:classes_before + len(plan.parent_of_child)] = plan.parent_of_child
    for variable, axis in class_head_variables(gan.critic):
        _copy_classes(variable, source, axis)
        for slot_name in optimizers.SLOT_NAMES:
            _copy_classes(optimizers.slot(gan.d_optimizer, variable, slot_name), source, axis)
    state.assign(tree_after, np.concatenate([state.parents(), plan.parent_of_child]))
    gan.example_labels.assign(plan.labels)
