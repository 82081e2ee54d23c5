"""Our copy of the four tensorflow-gan functions the metrics call (tfgan_functions.py, used where
tensorflow-gan cannot be imported: TF >= 2.16) computes what tensorflow-gan's own compute, on the same activations.
Runs where tensorflow-gan imports (the TF 2.15 and 2.6 stacks)."""
import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras import tfgan_functions
from splitgan_keras.evaluate.metrics import inception

try:
    import tensorflow_gan as tfgan
except (ImportError, AttributeError):  # TF >= 2.16: its package imports tf.estimator
    pytest.skip("tensorflow-gan does not import on this stack: there is nothing to compare with",
                allow_module_level=True)


def _activations(seed, n, d, shift=0.0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


def test_the_classifier_score_is_tfgans():
    logits = tf.constant(_activations(0, 500, 1008) * 3)
    ours = float(tfgan_functions.classifier_score_from_logits(logits))
    assert ours == pytest.approx(float(tfgan.eval.classifier_score_from_logits(logits)), rel=1e-6) and ours > 1
    as_float32 = tfgan_functions.classifier_score_from_logits(tf.cast(logits, tf.float32))
    assert as_float32.dtype == tfgan.eval.classifier_score_from_logits(tf.cast(logits, tf.float32)).dtype


def test_the_trace_sqrt_product_and_the_frechet_distance_are_tfgans():
    a, b = _activations(1, 400, 64), _activations(2, 300, 64, shift=0.3) @ _activations(3, 64, 64) / 8
    ours = float(tfgan_functions.frechet_classifier_distance_from_activations(tf.constant(a), tf.constant(b)))
    theirs = float(tfgan.eval.frechet_classifier_distance_from_activations(tf.constant(a), tf.constant(b)))
    assert ours == pytest.approx(theirs, rel=1e-6) and ours > 0
    c_a, c_b = tf.constant(np.cov(a, rowvar=False)), tf.constant(np.cov(b, rowvar=False))
    assert float(tfgan_functions.trace_sqrt_product(c_a, c_b)) == pytest.approx(
        float(tfgan.eval.classifier_metrics.trace_sqrt_product(c_a, c_b)), rel=1e-6)


@pytest.mark.parametrize("real, generated", [(300, 200), (2500, 2100)])  # one block (no error), three blocks
def test_the_kernel_distance_and_its_error_are_tfgans(real, generated):
    a = tf.constant(_activations(4, real, 32), tf.float32)
    b = tf.constant(_activations(5, generated, 32, shift=0.2), tf.float32)
    ours = [float(v) for v in tfgan_functions.kernel_classifier_distance_and_std_from_activations(a, b, 1024)]
    theirs = [float(v) for v in tfgan.eval.kernel_classifier_distance_and_std_from_activations(a, b, 1024)]
    assert ours[0] == pytest.approx(theirs[0], rel=1e-6)
    assert np.isnan(ours[1]) == np.isnan(theirs[1]) and (np.isnan(ours[1]) or ours[1] == pytest.approx(theirs[1],
                                                                                                          rel=1e-6))


def test_the_inception_names_are_tfgans():
    assert (inception.DEFAULT_HANDLE, inception.LOGITS, inception.POOL, inception.IMAGE_SIZE) == (
        tfgan.eval.INCEPTION_TFHUB, tfgan.eval.INCEPTION_OUTPUT, tfgan.eval.INCEPTION_FINAL_POOL,
        tfgan.eval.INCEPTION_DEFAULT_IMAGE_SIZE)
