"""Inception Score, Frechet distance, Kernel Inception Distance (tensorflow-gan) and improved
precision and recall (scikit-learn's neighbour search) from network outputs.

Pure functions of arrays; metrics/inception.py produces the arrays.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras import compat
from splitgan_keras.metric_names import IS_SPLITS, KID_BLOCK, PR_NEIGHBOURS


def inception_score(logits: np.ndarray, splits: int = IS_SPLITS) -> Tuple[float, float]:
    """The OpenAI protocol the original reports: the samples in `splits` consecutive parts, each
    scored with tfgan.eval.classifier_score_from_logits (exp E[KL(p(y|x) || p(y))] within the part).

    Args:
      logits: float [N, K] classifier logits, N >= splits.

    Returns:
      (mean, standard deviation) over the parts (population std, as numpy's default).
    """
    if len(logits) < splits:
        raise ValueError("the Inception Score needs at least %d samples, got %d" % (splits, len(logits)))
    # Each part in float64 on its own: the whole array at once would be 400 MB more at 50000 samples.
    parts = np.array_split(np.asarray(logits), splits)
    values = [float(compat.gan_metrics().classifier_score_from_logits(tf.constant(p, tf.float64))) for p in parts]
    return float(np.mean(values)), float(np.std(values))


STATISTICS_CHUNK = 4096  # rows converted to float64 at a time: 64 MB of 2048 features


def activation_statistics(activations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean [D], unbiased covariance [D, D]) in float64, as tfgan's Frechet distance estimates them,
    of activations [N, D] (N >= 2; a float32 array, possibly memory-mapped).

    Accumulated over chunks of rows, so 50000 activations need no float64 copy of them all (np.cov
    would make one, 800 MB for pool_3)."""
    n = len(activations)
    if n < 2:
        raise ValueError("statistics need at least 2 samples, got %d" % n)
    chunks = range(0, n, STATISTICS_CHUNK)
    mean = sum(np.asarray(activations[i:i + STATISTICS_CHUNK], np.float64).sum(0) for i in chunks) / n
    cov = np.zeros((len(mean), len(mean)))
    for i in chunks:
        centred = np.asarray(activations[i:i + STATISTICS_CHUNK], np.float64) - mean
        cov += centred.T @ centred
    return mean, cov / (n - 1)


def frechet_distance(stats_a: Tuple[np.ndarray, np.ndarray], stats_b: Tuple[np.ndarray, np.ndarray]) -> float:
    """|m_a - m_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) from cached statistics.

    tfgan's frechet_classifier_distance_from_activations computes exactly this from raw
    activations; statistics are what can be cached for 50000 real images (2048^2 floats instead of
    50000 x 2048), so this calls the matrix square-root trace that tfgan's function uses inside.
    """
    (m_a, c_a), (m_b, c_b) = stats_a, stats_b
    sqrt_trace = compat.gan_metrics().trace_sqrt_product(tf.constant(c_a), tf.constant(c_b))
    return float(np.sum((m_a - m_b) ** 2) + np.trace(c_a) + np.trace(c_b) - 2.0 * float(sqrt_trace))


def kernel_distance(real: np.ndarray, generated: np.ndarray) -> Tuple[float, float]:
    """(KID, its standard error): tfgan's unbiased block estimator of the squared MMD with the
    polynomial kernel (x.y / D + 1)^3, between activations real [N, D] and generated [M, D]. The
    error is the spread between blocks of KID_BLOCK samples: NaN with fewer samples (one block)."""
    kid, std = compat.gan_metrics().kernel_classifier_distance_and_std_from_activations(
        tf.constant(real, tf.float32), tf.constant(generated, tf.float32), max_block_size=KID_BLOCK)
    return float(kid), float(std)


def _inside_manifold(reference: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """bool [M]: whether each query [M, D] lies within the k-th-nearest-neighbour ball of some
    reference point [N, D] (the ball's radius: that point's distance to its k-th nearest other
    reference point)."""
    from sklearn.metrics import pairwise_distances_chunked
    from sklearn.neighbors import NearestNeighbors

    radii = NearestNeighbors(n_neighbors=k + 1).fit(reference).kneighbors(reference)[0][:, k]
    # Chunks of query rows keep the [M, N] distances within scikit-learn's working memory.
    inside = [np.any(chunk <= radii[None, :], axis=1) for chunk in pairwise_distances_chunked(queries, reference)]
    return np.concatenate(inside)


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = PR_NEIGHBOURS) -> Tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of activations generated [M, D]
    against real [N, D] (N, M > k): the share of generated samples inside the real manifold, and
    of real samples inside the generated one, each manifold the union of k-NN balls."""
    real, generated = np.asarray(real, np.float32), np.asarray(generated, np.float32)  # as float64: twice the memory
    return float(_inside_manifold(real, generated, k).mean()), float(_inside_manifold(generated, real, k).mean())
