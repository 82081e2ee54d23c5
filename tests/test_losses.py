"""WGAN-GP and class losses on cases with known answers."""
import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras.models import losses


def _linear_critic(w):
    """score = <x, w> per image, whose input gradient is w everywhere: ||grad|| = ||w||."""
    return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_linear_critic_is_norm_minus_one_squared(scale):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    w *= scale / np.linalg.norm(w)
    real = tf.constant(rng.normal(size=(6, 4, 4, 3)), tf.float32)
    fake = tf.constant(rng.normal(size=(6, 4, 4, 3)), tf.float32)
    alpha = tf.constant(rng.uniform(size=(6, 1, 1, 1)), tf.float32)
    gp = losses.gradient_penalty(_linear_critic(w), real, fake, alpha)
    assert float(gp) == pytest.approx((scale - 1.0) ** 2, abs=1e-5)


def test_gradient_penalty_interpolates_per_sample():
    # score = sum(x^2)/2 has gradient x, so the slope at x_hat is ||x_hat||: alpha must be per sample.
    real = tf.zeros([2, 1, 1, 1])
    fake = tf.ones([2, 1, 1, 1])
    alpha = tf.constant([0.0, 1.0], shape=[2, 1, 1, 1])
    gp = losses.gradient_penalty(lambda x: 0.5 * tf.reduce_sum(x * x, axis=[1, 2, 3]), real, fake, alpha)
    assert float(gp) == pytest.approx(((0.0 - 1.0) ** 2 + (1.0 - 1.0) ** 2) / 2, abs=1e-4)


def test_gradient_penalty_is_finite_with_zero_slope_and_equal_inputs():
    # A critic whose weights are zero has slope 0 everywhere: the gradient of the penalty with respect to those
    # weights goes through the norm at 0, where sqrt's derivative is infinite without the epsilon.
    x = tf.ones([3, 2, 2, 3])
    weights = tf.Variable(tf.zeros([2, 2, 3]))
    with tf.GradientTape() as tape:
        gp = losses.gradient_penalty(lambda v: tf.reduce_sum(v * weights, axis=[1, 2, 3]), x, x, tf.ones([3, 1, 1, 1]))
    assert float(gp) == pytest.approx(1.0, abs=1e-4)
    grad = tape.gradient(gp, weights)
    assert grad is not None and np.all(np.isfinite(grad.numpy()))


def test_wgan_terms_and_class_loss():
    real, fake = tf.constant([1.0, 3.0]), tf.constant([-1.0, 0.0])
    assert float(losses.critic_wgan(real, fake)) == pytest.approx(-0.5 - 2.0)
    assert float(losses.generator_wgan(fake)) == pytest.approx(0.5)
    logits = tf.constant([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    labels = tf.constant([1, 0])
    expected = (np.log(3.0) + np.log(1 + 2 * np.exp(-10.0))) / 2
    assert float(losses.class_cross_entropy(logits, labels)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.class_accuracy(logits, labels)) == pytest.approx(0.5)
