"""Export of the generator as a float32 SavedModel with a serving signature.

The exported model is rebuilt on the CPU under a float32 policy and given the trained weights,
which include the class state (tree, active classes, parents), so it carries no device or
precision state. Signatures: `serving_default` (noise, labels) -> uint8 images, and
`class_hierarchy` () -> number of classes, parent of every class, class tree. It is written to a
temporary folder and then renamed into place, so an interrupted export never replaces a good one.
"""
from __future__ import annotations

import contextlib

import tensorflow as tf

from splitgan_keras import faults, files
from splitgan_keras.artefacts import sampling
from splitgan_keras.models.networks import Generator, NOISE_DIM

SIGNATURE = "serving_default"
HIERARCHY_SIGNATURE = "class_hierarchy"


@contextlib.contextmanager
def _float32_policy():
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def float32_copy(generator: Generator) -> Generator:
    """A float32 Generator with the same configuration and weights."""
    with _float32_policy():
        copy = Generator.from_config(generator.get_config()).build_variables()
    copy.set_weights(generator.get_weights())
    return copy


def _serving_function(generator: Generator):
    @tf.function(input_signature=[tf.TensorSpec([None, NOISE_DIM], tf.float32, name="noise"),
                                  tf.TensorSpec([None], tf.int32, name="labels")])
    def serve(noise, labels):
        """noise float32 [N, 128], labels int32 [N] in [0, num_classes) -> images uint8 [N, H, W, 3].

        Batch norm uses the statistics of this batch (as in training), so use batches of tens of
        samples with a mix of labels."""
        return {"images": sampling.to_uint8(generator(noise, labels))}
    return serve


def _hierarchy_function(generator: Generator):
    @tf.function(input_signature=[])
    def class_hierarchy():
        """num_classes int32 scalar; class_parents int32 [num_classes] (-1: an initial class), as the
        class state stores them; class_tree float32 [512, 512] (row y: the conditional-BN slots of class y)."""
        return generator.class_state.serving_outputs()
    return class_hierarchy


def export_generator(generator: Generator, directory: str, host_scope=lambda: tf.device("/cpu:0")) -> str:
    """Saves a float32 copy of `generator` at `directory` (replacing an earlier export atomically).

    `host_scope` places the copy on the host CPU (runtime.Runtime.host_scope: tf.device does not
    move work on the NPU).
    """
    with files.staged_directory(directory) as staging, host_scope():
        copy = float32_copy(generator)
        copy.save(staging, save_format="tf", signatures={
            SIGNATURE: _serving_function(copy), HIERARCHY_SIGNATURE: _hierarchy_function(copy)})
        faults.point("export.staged")
    return directory
