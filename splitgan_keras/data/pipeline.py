"""The tf.data input pipeline: each element is everything one training iteration consumes.

The data order is a pure function of (seed, position): epoch e is the permutation argsort of
stateless uniform keys seeded by (seed, e). Every random input of iteration t (dequantisation
noise, the critic's noise and penalty weights, the generator's noise and label draws) is a
stateless draw seeded by (seed, t). A resumed run therefore starts at its exact inputs without
replaying a stream or checkpointing a random state. Like the original, each epoch drops its last
partial batch and the batches run on across epoch boundaries.

With several replicas every replica gets its shard, a contiguous slice of every global batch and
of every random draw: replica r of R sees exactly what a single device computes on rows
[r B / R, (r + 1) B / R). So R replicas compute the single device's iteration; R = 2 is the
original's two-device layout.

The pipeline yields example indices with the images, not labels: the model looks the current
label up in its label variable, so a class split needs no new pipeline.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from splitgan_keras import compat
from splitgan_keras.models.networks import NOISE_DIM

_UNBOUNDED_EPOCHS = 2 ** 62
_PREFETCH_ITERATIONS = 2  # the next iterations' batches are ready while one trains
_RANDOM_INPUTS = ("dequant_noise", "critic_noise", "alpha", "generator_noise", "label_draws")


def _example_order(n: int, batch_size: int, n_critic: int, seed: int, start_iteration: int) -> tf.data.Dataset:
    """int32 [n_critic, B] example indices per iteration, from iteration `start_iteration` on."""
    per_epoch = n // batch_size
    start_epoch, skip = divmod(start_iteration * n_critic, per_epoch)

    def epoch_batches(epoch):
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        order = tf.argsort(keys)[:per_epoch * batch_size]
        return tf.data.Dataset.from_tensor_slices(tf.reshape(tf.cast(order, tf.int32), [per_epoch, batch_size]))

    ds = tf.data.Dataset.range(start_epoch, _UNBOUNDED_EPOCHS).flat_map(epoch_batches).skip(skip)
    return ds.batch(n_critic, drop_remainder=True)


def random_inputs(iteration, image_shape: Sequence[int], batch_size: int, n_critic: int, generator_batch: int,
                  seed: int) -> Dict[str, tf.Tensor]:
    """The random inputs of one iteration (global batch), stateless in (seed, iteration):

    dequant_noise float32 [n_critic, B, H, W, 3] in [0, 1/128); critic_noise float32 [n_critic, B, 128];
    alpha float32 [n_critic, B, 1, 1, 1] in [0, 1); generator_noise float32 [M, 128]; label_draws
    float32 [M] in [0, 1) (the generator's labels are floor(draw * active classes), as the original).
    """
    seeds = tf.random.experimental.stateless_split(tf.stack([tf.constant(seed, tf.int64),
                                                             tf.cast(iteration, tf.int64)]), len(_RANDOM_INPUTS))
    critic = [n_critic, batch_size]
    return {"dequant_noise": tf.random.stateless_uniform(critic + list(image_shape), seeds[0], 0.0, 1.0 / 128.0),
            "critic_noise": tf.random.stateless_normal(critic + [NOISE_DIM], seeds[1]),
            "alpha": tf.random.stateless_uniform(critic + [1, 1, 1], seeds[2]),
            "generator_noise": tf.random.stateless_normal([generator_batch, NOISE_DIM], seeds[3]),
            "label_draws": tf.random.stateless_uniform([generator_batch], seeds[4])}


def shard_of(inputs: Dict[str, tf.Tensor], shard: int, shards: int) -> Dict[str, tf.Tensor]:
    """Replica `shard`'s contiguous slice of every global batch in an iteration's inputs."""
    out = {}
    for key, value in inputs.items():
        axis = 0 if key in ("generator_noise", "label_draws") else 1  # critic inputs are [n_critic, B, ...]
        size = value.shape[axis] // shards
        out[key] = value[shard * size:(shard + 1) * size] if axis == 0 else value[:, shard * size:(shard + 1) * size]
    return out


def iteration_inputs(images: np.ndarray, train_cfg, start_iteration: int = 0,
                     shards: Sequence[int] = (0,), num_shards: int = 1) -> tf.data.Dataset:
    """An endless dataset of what each training iteration consumes, for the given replicas.

    Args:
      images: uint8 [N, H, W, 3], the training set in data-set order.
      train_cfg: config.TrainConfig (batch_size B, n_critic, gen_batch_multiple, seed).
      start_iteration: number of iterations already trained; the stream starts after their inputs.
      shards: the replicas this pipeline feeds, in the order their elements are taken (one element
        per replica and iteration); num_shards: the replicas in all, R.

    Returns:
      Dict elements with fully static shapes (what the NPU's graph engine needs), b = B / R, m =
      gen_batch_multiple B / R: pixels uint8 [n_critic, b, H, W, 3], indices int32 [n_critic, b],
      and random_inputs' tensors, sliced to b or m.
    """
    t = train_cfg
    pixels = tf.constant(images)
    generator_batch = t.gen_batch_multiple * t.batch_size
    order = _example_order(len(images), t.batch_size, t.n_critic, t.seed, start_iteration)
    iterations = tf.data.Dataset.range(start_iteration, _UNBOUNDED_EPOCHS)

    def per_replica(indices, iteration):
        inputs = dict(random_inputs(iteration, images.shape[1:], t.batch_size, t.n_critic, generator_batch, t.seed),
                      indices=indices)
        slices = [shard_of(inputs, r, num_shards) for r in shards]
        stacked = {key: tf.stack([s[key] for s in slices]) for key in inputs}
        stacked["pixels"] = tf.gather(pixels, stacked["indices"])  # one small gather per iteration
        return tf.data.Dataset.from_tensor_slices(stacked)

    ds = tf.data.Dataset.zip((order, iterations)).flat_map(per_replica)
    # flat_map hides that the stream never ends. Said explicitly, a multi-worker strategy keeps the
    # static shapes: a dataset that may end it reads with get_next_as_optional, whose elements have
    # an unknown leading size (seen: the step traced for [None, b, ...] inputs on two workers).
    ds = ds.apply(tf.data.experimental.assert_cardinality(tf.data.experimental.INFINITE_CARDINALITY))
    return _without_autotuning(ds.prefetch(_PREFETCH_ITERATIONS * len(shards)))


def _without_autotuning(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Switches tf.data's autotuner off. It has nothing to tune here (a gather of a few hundred
    images per training step of seconds), and with it on, deleting the iterator at the end of
    Model.fit waits out the tuner's current period: measured 7 s per fit at the reference
    configuration."""
    return ds.with_options(compat.without_autotuning(tf.data.Options()))
