"""What differs between the three supported stacks: TF 2.6.5 / Keras 2.6 (the Ascend adapter's), TF 2.15 /
Keras 2 and TF 2.21 / tf_keras (Keras 2 for TF >= 2.16). The only module that asks which TensorFlow it runs on.

  - the OptimizerV2 Adam, whose slots the class split copies: `tf.keras.optimizers.Adam` on 2.6,
    `tf.keras.optimizers.legacy.Adam` from 2.11 (the new class has no `get_slot`);
  - tf.data's autotune switch: `Options.autotune.enabled` (2.6 and later), before that
    `experimental_optimization.autotune`;
  - op determinism: `tf.config.experimental.enable_op_determinism` from 2.9, the
    TF_DETERMINISTIC_OPS variable before;
  - bfloat16 convolutions on the CPU: TF 2.6's CPU Conv2D returns float32 for bfloat16 inputs,
    which breaks Keras' mixed_bfloat16 policy (checked by running one, not by version number);
  - the coordination service that newer MultiWorkerMirroredStrategy starts (TF 2.6 has none);
  - tensorflow-gan, whose package cannot be imported on TF >= 2.16 (it imports tf.estimator): its metric
    functions come from tfgan_functions.py there.
"""
from __future__ import annotations

import functools
import os
import types

import tensorflow as tf
from tensorflow.python.eager import context as eager_context

_TF_VERSION = tuple(int(part) for part in tf.__version__.split(".")[:2])  # (2, 6), (2, 15) or (2, 21)

if _TF_VERSION >= (2, 16) and not tf.keras.__name__.startswith("tf_keras"):
    raise ImportError("splitgan-keras needs Keras 2, and tf.keras is Keras 3 (%s): TensorFlow was imported before "
                      "splitgan_keras without TF_USE_LEGACY_KERAS=1; import splitgan_keras first, or set it (with "
                      "tf_keras installed)" % tf.keras.__name__)

OptimizerV2Adam = getattr(tf.keras.optimizers, "legacy", tf.keras.optimizers).Adam


def without_autotuning(options: tf.data.Options) -> tf.data.Options:
    """`options` with tf.data's autotuner switched off."""
    if hasattr(options, "autotune"):
        options.autotune.enabled = False
    else:
        options.experimental_optimization.autotune = False
    return options


def enable_determinism() -> None:
    """Makes TensorFlow ops deterministic (must run before the ops it should affect are built)."""
    if hasattr(tf.config.experimental, "enable_op_determinism"):
        tf.config.experimental.enable_op_determinism()
    else:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"


@functools.lru_cache(maxsize=None)
def cpu_bfloat16_convolutions() -> bool:
    """True when a bfloat16 convolution on the CPU computes in bfloat16, so that Keras' mixed_bfloat16
    policy can train there. Never on TF 2.6: with Eigen it computes in float32, and with oneDNN
    (cpu_backend.py turns it on) some convolutions still return float32, which a bfloat16 bias
    cannot be added to (seen in the mixed-precision tests at width 8, 16x16)."""
    if _TF_VERSION < (2, 9):
        return False
    with tf.device("/cpu:0"):
        out = tf.nn.conv2d(tf.zeros([1, 1, 1, 1], tf.bfloat16), tf.zeros([1, 1, 1, 1], tf.bfloat16), 1, "VALID")
    return out.dtype == tf.bfloat16


def xla_compiles_critic_loop() -> bool:
    """Whether XLA compiles the training iteration with its critic steps in a tf.while_loop. TF 2.6's
    does not ("Dynamic degenerated dimension that's not most-minor nor most-major is not supported",
    for the slices of the critic inputs taken with the loop counter); TF 2.15's does (versions between
    are untested, so they keep the steps unrolled)."""
    return _TF_VERSION >= (2, 15)


def without_coordination_service() -> None:
    """Keeps a TF_CONFIG job's start-up where Python can watch it; call before the strategy is made.

    Newer MultiWorkerMirroredStrategy starts TensorFlow's coordination service, whose wait for the
    other tasks holds Python's interpreter lock: no signal handler and no watcher thread runs until
    every task has come, and the service's register timeout does not end the leader's wait
    (measured on TF 2.15). Without it a job starts as on TF 2.6, which has no such service: the
    wait is in the first collective, where startup.bounded watches it, and the strategy's own
    health-check thread watches the peers afterwards. The switch is only in the private context.
    """
    context = eager_context.context()
    if hasattr(context, "configure_coordination_service") and context.coordination_service is None:
        context.configure_coordination_service(service_type="")


@functools.lru_cache(maxsize=None)
def gan_metrics():
    """The metric functions of tensorflow-gan's tfgan.eval that the metrics call: classifier_score_from_logits,
    trace_sqrt_product, frechet_classifier_distance_from_activations and
    kernel_classifier_distance_and_std_from_activations. tensorflow-gan's own where it imports (TF 2.6 to 2.15),
    else the same functions of tfgan_functions.py."""
    try:
        import tensorflow_gan as tfgan
    except (ImportError, AttributeError):  # not installed, or TF >= 2.16 (no tf.estimator for it to import)
        from splitgan_keras import tfgan_functions
        return tfgan_functions
    metrics = tfgan.eval
    return types.SimpleNamespace(
        classifier_score_from_logits=metrics.classifier_score_from_logits,
        trace_sqrt_product=metrics.classifier_metrics.trace_sqrt_product,
        frechet_classifier_distance_from_activations=metrics.frechet_classifier_distance_from_activations,
        kernel_classifier_distance_and_std_from_activations=metrics.kernel_classifier_distance_and_std_from_activations)
