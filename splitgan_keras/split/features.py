"""The features a split clusters: the critic's features of the whole training set, normalised.

The critic has no batch statistics, so the feature pass's batch only trades memory for speed;
the normalisation groups (the critic batch size) are separate.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import runtime
from splitgan_keras.models.gan import scale_real
from splitgan_keras.models.networks import CRITIC_BLOCKS
from splitgan_keras.replicas import Replicas

FEATURE_BATCH = 500  # images per critic call in the feature pass
_L2_EPSILON = 1e-12  # tf.nn.l2_normalize's floor on the squared norm, as the original normalises


class FeaturePass:
    """Critic features of a whole data set, with fresh dequantisation noise as in training: a
    stateless draw per batch, seeded by the run's seed and the split's iteration (so a resumed
    run's split draws what the uninterrupted run drew). `blocks`: after how many of the critic's
    blocks (split.feature_blocks; all of them, the features its heads read, in the original)."""

    def __init__(self, critic, seed: int, batch: int = FEATURE_BATCH, replicas: Replicas = Replicas(),
                 blocks: int = CRITIC_BLOCKS):
        self.critic, self.seed, self.batch = critic, seed, batch

        @tf.function
        def features(pixels, noise):  # float32 [B, width], after `blocks` blocks (all: the original's)
            return tf.cast(critic.block_features(scale_real(pixels, noise), blocks), tf.float32)

        self._features = features
        self._run = replicas.batch_runner(features)  # a strategy's replicas take the batches in turn

    def _noise(self, shape, iteration: int, batch_number: int) -> tf.Tensor:
        # Negative second seed words: a stream apart from the training inputs' (seed, iteration >= 0).
        key = tf.constant([self.seed, -1 - (iteration * 2 ** 20 + batch_number)], tf.int64)
        return tf.random.stateless_uniform(shape, key, 0.0, 1.0 / 128.0)

    def __call__(self, images: np.ndarray, iteration: int, dequant_noise: Optional[np.ndarray] = None) -> np.ndarray:
        """Features float32 [N, D] of uint8 images [N, H, W, 3], in order, for the split after
        `iteration`.

        Every call has the same static batch shape (the last one is padded), as the NPU needs.
        `dequant_noise` (float [N, H, W, 3]) replaces the random noise, for tests.
        """
        n = len(images)
        batch = min(self.batch, n)
        starts = range(0, n, batch)

        def batches():
            for number, start in enumerate(starts):
                pixels = runtime.pad_batch(images[start:start + batch], batch)
                noise = (self._noise(pixels.shape, iteration, number) if dequant_noise is None else
                         tf.constant(runtime.pad_batch(dequant_noise[start:start + batch], batch), tf.float32))
                yield pixels, noise

        out = np.empty((n, self.critic.width), np.float32)
        for start, features in zip(starts, self._run(batches())):
            out[start:start + batch] = features[:n - start]
        return out

    def traced(self, image_shape) -> tf.types.experimental.ConcreteFunction:
        """The graph of one call on a batch of uint8 images of `image_shape` [H, W, 3] (for FLOP counts)."""
        shape = [self.batch] + list(image_shape)
        return self._features.get_concrete_function(tf.TensorSpec(shape, tf.uint8), tf.TensorSpec(shape, tf.float32))


def normalize(features: np.ndarray, batch_size: int, mode: str = "batch") -> np.ndarray:
    """Normalises critic features for k-means.

    Args:
      features: float32 [N, D] in data-set order.
      batch_size: `batch` mode: rows are normalised in consecutive groups of this many (the
        original's critic batch); the last, partial group too (the original left it at zero).
      mode: "batch": each feature column divided by its L2 norm over the group (the original's
        tf.nn.l2_normalize(features, 0)); "image": each row divided by its own L2 norm.

    Returns:
      float64 [N, D] (k-means runs in float64, as the original stored its features).
    """
    x = np.asarray(features, np.float32)
    if mode == "image":
        norms = np.sqrt(np.maximum(np.sum(x * x, axis=1, keepdims=True), _L2_EPSILON))
        return (x / norms).astype(np.float64)
    if mode != "batch":
        raise ValueError("unknown feature normalisation %r" % mode)
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        group = x[start:start + batch_size]
        inverse = 1.0 / np.sqrt(np.maximum(np.sum(group * group, axis=0, keepdims=True), _L2_EPSILON))
        out[start:start + batch_size] = group * inverse
    return out.astype(np.float64)
