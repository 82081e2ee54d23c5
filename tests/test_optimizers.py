"""The optimizer helper: OptimizerV2 Adam with slot access on every TF, through loss-scale wrappers."""
import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras.models import optimizers


def test_adam_has_v2_slots_built_up_front():
    variable = tf.Variable(tf.ones([3, 2]))
    opt = optimizers.adam(1e-3, 0.0, 0.9, 1e-8)
    optimizers.build(opt, [variable])
    for name in optimizers.SLOT_NAMES:
        slot = optimizers.slot(opt, variable, name)
        assert slot.shape == variable.shape and not np.any(slot.numpy())
    assert int(opt.iterations) == 0


def test_slots_are_reached_through_a_loss_scale_wrapper():
    variable = tf.Variable(tf.ones([4]))
    inner = optimizers.adam(1e-3, 0.0, 0.9, 1e-8)
    wrapped = tf.keras.mixed_precision.LossScaleOptimizer(inner)
    assert optimizers.unwrap(wrapped) is inner
    optimizers.build(wrapped, [variable])
    wrapped.apply_gradients([(tf.constant([1.0, -2.0, 0.0, 3.0]), variable)])
    np.testing.assert_allclose(optimizers.slot(wrapped, variable, "m").numpy(), [1.0, -2.0, 0.0, 3.0])
    np.testing.assert_allclose(optimizers.slot(wrapped, variable, "v").numpy(), [0.1, 0.4, 0.0, 0.9], rtol=1e-6)


def test_update_is_tf1_adam_with_bias_correction_in_the_step_size():
    variable = tf.Variable([1.0, 1.0])
    opt = optimizers.adam(0.1, 0.0, 0.9, 1e-8)
    opt.apply_gradients([(tf.constant([0.5, -1e-6]), variable)])
    # First step: m = g, v = 0.1 g^2, lr_t = lr * sqrt(1 - 0.9) / (1 - 0): w -= lr_t * g / (sqrt(v) + eps).
    lr_t = 0.1 * np.sqrt(0.1)
    expected = 1.0 - lr_t * np.array([0.5, -1e-6]) / (np.sqrt(0.1 * np.array([0.25, 1e-12])) + 1e-8)
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6)


def test_linear_decay_follows_the_shared_iteration_counter():
    iteration = tf.Variable(0, dtype=tf.int64)
    decay = optimizers.LinearDecay(2e-4, iteration, 100)
    opt = optimizers.adam(decay, 0.0, 0.9, 1e-8)
    variable = tf.Variable([0.0])
    iteration.assign(40)
    opt.apply_gradients([(tf.constant([1.0]), variable)])
    lr_t = 2e-4 * 0.6 * np.sqrt(0.1)
    assert float(variable.numpy()[0]) == pytest.approx(-lr_t * 1.0 / (np.sqrt(0.1) + 1e-8), rel=1e-5)
    iteration.assign(250)
    assert float(decay()) == 0.0
