"""The four functions of tensorflow-gan's `tfgan.eval` that the metrics call, for the stack where tensorflow-gan
cannot be imported (TF >= 2.16: its package imports tf.estimator, which is gone). compat.gan_metrics() takes
tensorflow-gan's own where it imports and these otherwise; tests/test_metrics.py checks that both agree to 1e-6 on
the same activations (on the stack that has both).

Each follows tensorflow-gan 2.1's classifier_metrics.py step for step (Apache 2.0, the TF-GAN authors): the same
operations, dtypes and estimators, so that a figure does not depend on which one computed it.
"""
from __future__ import annotations

import tensorflow as tf


def _symmetric_matrix_square_root(mat: tf.Tensor, eps: float = 1e-10) -> tf.Tensor:
    """sqrt(mat) of a symmetric matrix [D, D] by its SVD, singular values under eps left as they are."""
    s, u, v = tf.linalg.svd(mat)
    si = tf.where(tf.less(s, eps), s, tf.sqrt(s))
    return tf.matmul(tf.matmul(u, tf.linalg.tensor_diag(si)), v, transpose_b=True)


def trace_sqrt_product(sigma: tf.Tensor, sigma_v: tf.Tensor) -> tf.Tensor:
    """Tr(sqrt(sigma sigma_v)) of two covariance matrices [D, D], as Tr(sqrt(A sigma_v A)) with A = sqrt(sigma)."""
    sqrt_sigma = _symmetric_matrix_square_root(sigma)
    return tf.linalg.trace(_symmetric_matrix_square_root(tf.matmul(sqrt_sigma, tf.matmul(sigma_v, sqrt_sigma))))


def classifier_score_from_logits(logits: tf.Tensor) -> tf.Tensor:
    """exp(E_x KL(p(y|x) || p(y))) of logits [N, K], computed in float64, returned in the logits' dtype."""
    logits = tf.convert_to_tensor(logits)
    dtype = logits.dtype
    logits = tf.cast(logits, tf.float64)
    p = tf.nn.softmax(logits)
    q = tf.reduce_mean(p, axis=0)
    kl = tf.reduce_sum(p * (tf.nn.log_softmax(logits) - tf.math.log(q)), axis=1)
    return tf.cast(tf.exp(tf.reduce_mean(kl)), dtype)


def _unbiased_covariance(activations: tf.Tensor) -> tf.Tensor:
    """[D, D] covariance of activations [N, D] with the 1 / (N - 1) estimator."""
    n = tf.cast(tf.shape(activations)[0], activations.dtype)
    centred = activations - tf.reduce_mean(activations, axis=0)
    return tf.matmul(centred, centred, transpose_a=True) / (n - 1)


def frechet_classifier_distance_from_activations(activations1: tf.Tensor, activations2: tf.Tensor) -> tf.Tensor:
    """|m1 - m2|^2 + Tr(C1 + C2 - 2 sqrt(C1 C2)) of activations [N, D] and [M, D], in float64, returned in their
    dtype."""
    activations1, activations2 = tf.convert_to_tensor(activations1), tf.convert_to_tensor(activations2)
    dtype = activations1.dtype
    activations1, activations2 = tf.cast(activations1, tf.float64), tf.cast(activations2, tf.float64)
    sigma, sigma_w = _unbiased_covariance(activations1), _unbiased_covariance(activations2)
    trace = tf.linalg.trace(sigma + sigma_w) - 2.0 * trace_sqrt_product(sigma, sigma_w)
    mean = tf.reduce_sum(tf.math.squared_difference(tf.reduce_mean(activations1, 0), tf.reduce_mean(activations2, 0)))
    return tf.cast(trace + mean, dtype)


def kernel_classifier_distance_and_std_from_activations(activations1: tf.Tensor, activations2: tf.Tensor,
                                                        max_block_size: int = 1024):
    """(KID, its standard error): the unbiased block estimator of the squared MMD with the kernel
    (x.y / D + 1)^3 between activations [N, D] and [M, D], in blocks of at most max_block_size; the error is the
    spread between blocks (NaN for one block)."""
    dtype = activations1.dtype
    n_r, n_g = tf.shape(activations1)[0], tf.shape(activations2)[0]
    n_blocks = tf.cast(tf.math.ceil(tf.maximum(n_r, n_g) / max_block_size), tf.int32)

    def bounds(n):
        """Block starts [n_blocks + 1]: the blocks as even as can be, the larger ones last (as tfgan's)."""
        size, larger = n // n_blocks, n - (n // n_blocks) * n_blocks
        sizes = tf.concat([tf.fill([n_blocks - larger], size), tf.fill([larger], size + 1)], 0)
        return tf.concat([tf.zeros([1], tf.int32), tf.cumsum(sizes)], 0)

    inds_r, inds_g = bounds(n_r), bounds(n_g)
    dim = tf.cast(activations1.shape[1], dtype)

    def block(i):
        r, g = activations1[inds_r[i]:inds_r[i + 1]], activations2[inds_g[i]:inds_g[i + 1]]
        m, n = tf.cast(tf.shape(r)[0], dtype), tf.cast(tf.shape(g)[0], dtype)
        k_rr = (tf.matmul(r, r, transpose_b=True) / dim + 1) ** 3
        k_rg = (tf.matmul(r, g, transpose_b=True) / dim + 1) ** 3
        k_gg = (tf.matmul(g, g, transpose_b=True) / dim + 1) ** 3
        return (-2 * tf.reduce_mean(k_rg) + (tf.reduce_sum(k_rr) - tf.linalg.trace(k_rr)) / (m * (m - 1))
                + (tf.reduce_sum(k_gg) - tf.linalg.trace(k_gg)) / (n * (n - 1)))

    estimates = tf.map_fn(block, tf.range(n_blocks), fn_output_signature=dtype)
    mean = tf.reduce_mean(estimates)
    blocks = tf.cast(n_blocks, dtype)
    var = tf.cond(tf.less_equal(n_blocks, 1), lambda: tf.constant(float("nan"), dtype),
                  lambda: tf.reduce_sum(tf.square(estimates - mean)) / (blocks - 1))
    return mean, tf.sqrt(var / blocks)
