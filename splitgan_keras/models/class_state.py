"""The class state of a generator: the one owner of the class tree, the active class count and
the parent of every class.

A Keras layer of the Generator, so checkpoints and exports carry it; a SplitGAN's moving average
shares its generator's (one state, two readers). Everything else reads it through the methods
below, and only a split (split/surgery.py) and the TF1 import write it, through `assign`.

The class tree is a 0/1 matrix [max_classes, max_classes]: row y selects the conditional-BN
parameter slots (columns) of class y; class i < initial_classes starts with slot i alone.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

NO_PARENT = -1  # the parent of an initial class


def initial_tree(initial_classes: int, max_classes: int) -> np.ndarray:
    """float32 [max_classes, max_classes]: class i uses parameter slot i, for i < initial_classes.

    A tuple index sets the diagonal; the original's list index meant the same under 2017 numpy.
    """
    tree = np.zeros((max_classes, max_classes), np.float32)
    tree[(np.arange(initial_classes), np.arange(initial_classes))] = 1.0
    return tree


class ClassState(tf.keras.layers.Layer):
    """Non-trainable variables: `tree` float32 [M, M], `num_active` int32 (classes in use) and `parents`
    int32 [M] (the class each class was split from; NO_PARENT for initial and unused classes)."""

    def __init__(self, initial_classes: int, max_classes: int, **kwargs):
        kwargs.setdefault("name", "class_state")
        super().__init__(dtype="float32", **kwargs)
        self.initial_classes, self.max_classes = initial_classes, max_classes
        self._tree = self._state("tree", initial_tree(initial_classes, max_classes))
        self._num_active = self._state("num_active", np.int32(initial_classes))
        self._parents = self._state("parents", np.full(max_classes, NO_PARENT, np.int32))
        # Its state exists from here on and it is never called on inputs, so nothing else would mark
        # it built; an unbuilt layer is left out of a SavedModel's Keras metadata, with a warning.
        self.built = True

    def _state(self, name: str, value: np.ndarray) -> tf.Variable:
        # add_weight, not a tf.Variable attribute: the checkpoint and weight names are then `name`.
        return self.add_weight(name, shape=value.shape, dtype=tf.as_dtype(value.dtype), trainable=False,
                               initializer=tf.constant_initializer(value))

    def slot_rows(self, labels: tf.Tensor) -> tf.Tensor:
        """float32 [N, M]: the tree row (conditional-BN slots) of each label int [N]."""
        return tf.gather(self._tree, labels)

    def num_active_tensor(self) -> tf.Tensor:
        """int32 scalar: the active class count, for use inside a compiled step."""
        return tf.identity(self._num_active)

    def num_active(self) -> int:
        """Number of classes in use; labels lie in [0, active)."""
        return int(self._num_active.numpy())

    def tree(self) -> np.ndarray:
        """float32 [M, M], a copy of the class tree."""
        return self._tree.numpy()

    def parents(self) -> np.ndarray:
        """int32 [active]: the parent of every active class, NO_PARENT for an initial class."""
        return self._parents.numpy()[:self.num_active()]

    def serving_outputs(self) -> dict:
        """What an export's class_hierarchy signature returns, as tensors: num_classes int32,
        class_parents int32 [num_classes], class_tree float32 [M, M]."""
        return {"num_classes": tf.identity(self._num_active), "class_parents": self._parents[:self._num_active],
                "class_tree": tf.identity(self._tree)}

    def assign(self, tree: np.ndarray, parents: np.ndarray) -> None:
        """Sets the whole state: tree float [M, M] and parents int [C] of the C active classes."""
        parents = np.asarray(parents, np.int32)
        if len(parents) < self.initial_classes or len(parents) > self.max_classes:
            raise ValueError("%d classes: expected %d..%d" % (len(parents), self.initial_classes, self.max_classes))
        stored = np.full(self.max_classes, NO_PARENT, np.int32)
        stored[:len(parents)] = parents
        self._tree.assign(np.asarray(tree, np.float32))
        self._parents.assign(stored)
        self._num_active.assign(len(parents))

    def get_config(self):
        return {"initial_classes": self.initial_classes, "max_classes": self.max_classes, "name": self.name}
