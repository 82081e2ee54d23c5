"""Import of checkpoints written by the original TF1 code (and by Huawei's TF1 port, same names).

Name and layout facts (see ../shared/golden/*/README.md): conv kernels are HWIO as in Keras;
linear weights are stored transposed, [out, in]; `Generator.Input`'s outputs are channel-major,
which the Generator keeps (it reshapes to [width, s, s] and transposes); Adam's m and v are
`<name>/Adam` and `<name>/Adam_1`; the class tree is `Variable` and the class count `Variable_1`.
"""
from __future__ import annotations

import collections.abc
import math
import re
from typing import Callable, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras.errors import UserError
from splitgan_keras.models import optimizers
from splitgan_keras.split import allocation

_Entry = Tuple[str, tf.Variable, Callable[[np.ndarray], np.ndarray]]
_AS_IS = np.asarray
_TRANSPOSED = np.transpose

TREE_NAME, NUM_CLASSES_NAME = "Variable", "Variable_1"
# The TF1 beta2 power accumulators of the generator's and the critic's Adam.
BETA2_POWER_NAMES = {"generator": "beta2_power", "critic": "beta2_power_1"}


def _conv(prefix: str, layer) -> List[_Entry]:
    return [("%s/%s.Filters" % (prefix, prefix), layer.kernel, _AS_IS),
            ("%s/%s.Biases" % (prefix, prefix), layer.bias, _AS_IS)]


def _linear(prefix: str, layer) -> List[_Entry]:
    return [("%s/%s.W" % (prefix, prefix), layer.kernel, _TRANSPOSED),
            ("%s/%s.b" % (prefix, prefix), layer.bias, _AS_IS)]


def _norm(prefix: str, layer) -> List[_Entry]:
    return [(prefix + ".scale", layer.scale, _AS_IS), (prefix + ".offset", layer.offset, _AS_IS)]


def generator_entries(generator) -> List[_Entry]:
    """(TF1 name, variable, layout transform) for every trainable generator parameter."""
    entries = _linear("Generator.Input", generator.input_linear)
    for k, block in enumerate(generator.blocks, 1):
        p = "Generator.%d" % k
        entries += (_conv(p + ".Shortcut", block.shortcut) + _norm(p + ".N1", block.norm1)
                    + _conv(p + ".Conv1", block.conv1) + _norm(p + ".N2", block.norm2)
                    + _conv(p + ".Conv2", block.conv2))
    return entries + _norm("Generator.OutputN", generator.output_norm) + _conv("Generator.Output",
                                                                               generator.output_conv)


def critic_entries(critic) -> List[_Entry]:
    """(TF1 name, variable, layout transform) for every critic parameter."""
    b1, b2, b3, b4 = critic.blocks
    return (_conv("Discriminator.1.Conv1", b1.conv1) + _conv("Discriminator.1.Conv2", b1.conv2)
            + _conv("Discriminator.1.Shortcut", b1.shortcut)
            + _conv("Discriminator.2.Shortcut", b2.shortcut) + _conv("Discriminator.2.Conv1", b2.conv1)
            + _conv("Discriminator.2.Conv2", b2.conv2)
            + _conv("Discriminator.3.Conv1", b3.conv1) + _conv("Discriminator.3.Conv2", b3.conv2)
            + _conv("Discriminator.4.Conv1", b4.conv1) + _conv("Discriminator.4.Conv2", b4.conv2)
            + _linear("Discriminator.Output", critic.score_head)
            + _linear("Discriminator.ACGANOutput", critic.class_head))


class _CheckpointValues(collections.abc.Mapping):
    """The tensors of a TF1 checkpoint by name, read on access."""

    def __init__(self, path: str):
        try:
            self.reader = tf.train.load_checkpoint(path)
        except (tf.errors.OpError, ValueError) as e:
            raise UserError("cannot read TF1 checkpoint %s (expected a checkpoint prefix such as "
                            "logs/model_best-12000, with its .index and .data files): %s"
                            % (path, str(e).splitlines()[0]))
        self.names = self.reader.get_variable_to_shape_map()

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        return self.reader.get_tensor(name)

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


class _Reader:
    """TF1 values by name, each read checked against the model's expectation."""

    def __init__(self, values: Mapping[str, np.ndarray], origin: str):
        self.values, self.origin = values, origin

    def get(self, name: str, expected_shape) -> np.ndarray:
        if name not in self.values:
            raise UserError("%s has no variable %r: not a checkpoint of the original Class-Splitting GAN code?"
                            % (self.origin, name))
        value = np.asarray(self.values[name])
        if list(value.shape) != list(expected_shape):
            raise UserError("%s: %s has shape %s, the model expects %s (was it trained with another width or "
                            "image size?)" % (self.origin, name, list(value.shape), list(expected_shape)))
        return value


def _stored_shape(variable, layout) -> List[int]:
    shape = list(variable.shape)
    return shape[::-1] if layout is _TRANSPOSED else shape


def _collect(reader: _Reader, entries: List[_Entry], optimizer, which: str):
    """(variable, value) pairs for the parameters and, with an optimizer, their Adam state."""
    values = []
    for name, variable, layout in entries:
        shape = _stored_shape(variable, layout)
        values.append((variable, layout(reader.get(name, shape))))
        if optimizer is not None:
            for slot_name, suffix in zip(optimizers.SLOT_NAMES, ("/Adam", "/Adam_1")):
                slot = optimizers.slot(optimizer, variable, slot_name)
                values.append((slot, layout(reader.get(name + suffix, shape))))
    if optimizer is not None:
        values.append((optimizers.unwrap(optimizer).iterations, _adam_steps(reader, optimizer, which)))
    return values


def _adam_steps(reader: _Reader, optimizer, which: str) -> np.int64:
    """Keras' `iterations` from TF1's beta2 power (which is beta2^(steps + 1) before a step)."""
    power = float(reader.get(BETA2_POWER_NAMES[which], []))
    beta2 = float(tf.keras.backend.get_value(optimizers.unwrap(optimizer).beta_2))
    return np.int64(round(math.log(power) / math.log(beta2)) - 1)


def iteration_from_name(path: str) -> Optional[int]:
    """The iteration in a name the original's Saver wrote (`model_best-12000` -> 12000), or None."""
    match = re.search(r"-(\d+)$", path.rstrip("/"))
    return int(match.group(1)) if match else None


def load_tf1_checkpoint(path: str, generator=None, critic=None, g_optimizer=None, d_optimizer=None) -> int:
    """Restores weights written by the original TF1 code into Keras networks.

    Args:
      path: TF1 checkpoint prefix (e.g. `logs/model_best-12000`).
      generator: a Generator (built or not), or None to skip it. Receives the weights and the class
        state (tree, active classes, and the parents the tree implies).
      critic: a Critic (built or not), or None.
      g_optimizer, d_optimizer: OptimizerV2 Adams (optimizers.adam, wrapped or not) of the
        generator's and the critic's variables, or None; they receive Adam's m and v and the step
        count. Their slots are created when missing.

    Returns:
      The number of active classes stored in the checkpoint.

    Raises:
      UserError: unreadable file, a missing variable or a shape that does not fit the networks.
        Nothing is assigned in that case.
    """
    return restore_tf1_values(_CheckpointValues(path), generator, critic, g_optimizer, d_optimizer,
                              origin="TF1 checkpoint %s" % path)


def _build(generator, critic, g_optimizer, d_optimizer) -> None:
    """Creates the variables that receive values: the networks' and the optimizers' slots."""
    if generator is not None:
        generator.build_variables()
        if g_optimizer is not None:
            optimizers.build(g_optimizer, generator.trainable_variables)
    if critic is not None:
        critic.build_variables(generator.image_size if generator is not None else 32)
        if d_optimizer is not None:
            optimizers.build(d_optimizer, critic.trainable_variables)


def restore_tf1_values(values: Mapping[str, np.ndarray], generator=None, critic=None, g_optimizer=None,
                       d_optimizer=None, origin: str = "TF1 values") -> int:
    """load_tf1_checkpoint from any mapping of TF1 variable names to arrays."""
    reader = _Reader(values, origin)
    num_classes = int(reader.get(NUM_CLASSES_NAME, []))
    _build(generator, critic, g_optimizer, d_optimizer)
    # Read and check everything before the first assignment, so that bad input changes nothing.
    assignments = []
    if generator is not None:
        assignments += _collect(reader, generator_entries(generator), g_optimizer, "generator")
        state = generator.class_state
        tree = reader.get(TREE_NAME, (state.max_classes, state.max_classes))
        try:  # the original stores no parents: they follow from its slot allocation
            parents = allocation.parents_from_original_tree(tree, num_classes, state.initial_classes)
        except ValueError as e:
            raise UserError("%s: its class tree (%s) does not fit a run that started from %d classes (%s)"
                            % (origin, TREE_NAME, state.initial_classes, e))
    if critic is not None:
        assignments += _collect(reader, critic_entries(critic), d_optimizer, "critic")
    for variable, value in assignments:
        variable.assign(value)
    if generator is not None:
        state.assign(tree, parents)
    return num_classes
