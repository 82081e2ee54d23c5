"""Loss terms of WGAN-GP with an auxiliary classifier, as pure functions (float32)."""
from __future__ import annotations

import tensorflow as tf

# Inside the square root, so its gradient stays finite at a zero slope (tfgan uses the same value).
# It changes no float32 result unless the slope is below 1e-5.
_SLOPE_EPSILON = 1e-10


def critic_wgan(score_real, score_fake):
    """mean D(fake) - mean D(real), the critic's Wasserstein term. Scores: float32 [N]."""
    return tf.reduce_mean(score_fake) - tf.reduce_mean(score_real)


def generator_wgan(score_fake):
    """-mean D(G(z, y)). score_fake: float32 [N]."""
    return -tf.reduce_mean(score_fake)


def class_cross_entropy(logits, labels):
    """Mean softmax cross-entropy over all logits (unused classes included, as in the original).

    Args:
      logits: float32 [N, max_classes]; labels: int [N].
    """
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def class_accuracy(logits, labels):
    """Fraction of rows whose argmax is the label. logits [N, K], labels int [N]."""
    predicted = tf.argmax(logits, axis=1, output_type=labels.dtype)
    return tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))


def gradient_penalty(score_fn, x_real, x_fake, alpha):
    """mean((||d score / d x_hat||_2 - 1)^2) at x_hat = x_real + alpha * (x_fake - x_real).

    Args:
      score_fn: images [N, H, W, C] -> float32 scores [N].
      x_real, x_fake: float32 [N, H, W, C].
      alpha: float32 [N, 1, 1, 1] per-sample interpolation weights in [0, 1].

    Returns:
      float32 scalar, unweighted. The norm is over each whole flattened image.
    """
    x_hat = x_real + alpha * (x_fake - x_real)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        score_sum = tf.reduce_sum(score_fn(x_hat))
    grads = tape.gradient(score_sum, x_hat)
    slopes = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + _SLOPE_EPSILON)
    return tf.reduce_mean(tf.square(slopes - 1.0))
