"""The tf.data input pipeline: shuffled critic batches, grouped per training iteration.

The data order is a pure function of (seed, position): epoch e is the permutation argsort of
stateless uniform keys seeded by (seed, e). A resumed run therefore starts at its exact batch
without replaying the stream and without checkpointing a shuffle buffer. Like the original, each
epoch drops its last partial batch and the batches run on across epoch boundaries.

The pipeline yields example indices with the images, not labels: the model looks the current
label up in its label variable, so a class split needs no new pipeline.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from splitgan_keras import compat

_UNBOUNDED_EPOCHS = 2 ** 62
_PREFETCH_ITERATIONS = 2  # the next iterations' batches are ready while one trains


def iteration_batches(images: np.ndarray, batch_size: int, n_critic: int, seed: int,
                      start_iteration: int = 0) -> tf.data.Dataset:
    """An endless dataset of one training iteration's real batches per element.

    Args:
      images: uint8 [N, H, W, 3], the training set in data-set order.
      batch_size: critic batch size B.
      n_critic: critic steps per iteration.
      seed: seed of the data order.
      start_iteration: number of iterations already trained; the stream starts after their batches.

    Returns:
      Elements (images uint8 [n_critic, B, H, W, 3], example indices int32 [n_critic, B]), with
      fully static shapes (what the NPU's graph engine needs).
    """
    n = len(images)
    per_epoch = n // batch_size
    start_epoch, skip = divmod(start_iteration * n_critic, per_epoch)
    pixels = tf.constant(images)

    def epoch_batches(epoch):
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        order = tf.argsort(keys)[:per_epoch * batch_size]
        return tf.data.Dataset.from_tensor_slices(tf.reshape(tf.cast(order, tf.int32), [per_epoch, batch_size]))

    ds = tf.data.Dataset.range(start_epoch, _UNBOUNDED_EPOCHS).flat_map(epoch_batches).skip(skip)
    ds = ds.batch(n_critic, drop_remainder=True)
    ds = ds.map(lambda idx: (tf.gather(pixels, idx), idx))  # one small gather per iteration
    return _without_autotuning(ds.prefetch(_PREFETCH_ITERATIONS))


def _without_autotuning(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Switches tf.data's autotuner off. It has nothing to tune here (a gather of a few hundred
    images per training step of seconds), and with it on, deleting the iterator at the end of
    Model.fit waits out the tuner's current period: measured 7 s per fit at the reference
    configuration."""
    return ds.with_options(compat.without_autotuning(tf.data.Options()))
