"""Inception Score and Frechet distance from network outputs, through tensorflow-gan.

Pure functions of arrays; metrics/inception.py produces the arrays.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import tensorflow as tf
import tensorflow_gan as tfgan

IS_SPLITS = 10


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
    parts = np.array_split(np.asarray(logits, np.float64), splits)
    values = [float(tfgan.eval.classifier_score_from_logits(tf.constant(p))) for p in parts]
    return float(np.mean(values)), float(np.std(values))


def activation_statistics(activations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean [D], unbiased covariance [D, D]) in float64, as tfgan's Frechet distance estimates them."""
    x = np.asarray(activations, np.float64)
    if len(x) < 2:
        raise ValueError("statistics need at least 2 samples, got %d" % len(x))
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(stats_a: Tuple[np.ndarray, np.ndarray], stats_b: Tuple[np.ndarray, np.ndarray]) -> float:
    """|m_a - m_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) from cached statistics.

    tfgan's frechet_classifier_distance_from_activations computes exactly this from raw
    activations; statistics are what can be cached for 50000 real images (2048^2 floats instead of
    50000 x 2048), so this calls the matrix square-root trace that tfgan's function uses inside.
    """
    (m_a, c_a), (m_b, c_b) = stats_a, stats_b
    sqrt_trace = tfgan.eval.classifier_metrics.trace_sqrt_product(tf.constant(c_a), tf.constant(c_b))
    return float(np.sum((m_a - m_b) ** 2) + np.trace(c_a) + np.trace(c_b) - 2.0 * float(sqrt_trace))
