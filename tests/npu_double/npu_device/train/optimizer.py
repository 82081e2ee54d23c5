"""NpuLossScaleOptimizer: a subclass of Keras' (OptimizerV2) LossScaleOptimizer.

On TF >= 2.11 the public LossScaleOptimizer is a dispatching base class, so the double subclasses
the concrete OptimizerV2 wrapper, which is what the TF 2.6 class is.
"""
import tensorflow as tf

_KerasLossScaleOptimizer = type(tf.keras.mixed_precision.LossScaleOptimizer(
    getattr(tf.keras.optimizers, "legacy", tf.keras.optimizers).Adam()))


class NpuLossScaleOptimizer(_KerasLossScaleOptimizer):
    _HAS_AGGREGATE_GRAD = True

    def __init__(self, inner_optimizer, dynamic=True, initial_scale=None, dynamic_growth_steps=None):
        from npu_device import record
        super().__init__(inner_optimizer, dynamic, initial_scale, dynamic_growth_steps)
        self._last_step_finite = tf.Variable(False, trainable=False, name="npu_last_step_finite")
        record("npu_loss_scale_optimizer", inner=type(inner_optimizer).__name__, dynamic=dynamic)

    @property
    def last_step_finite(self):
        return self._last_step_finite

    def apply_gradients(self, grads_and_vars, name=None):
        from npu_device import npu_device
        grads_and_vars = list(grads_and_vars)
        if npu_device.global_npu_ctx() is None:
            return super().apply_gradients(grads_and_vars, name=name)
        # The device's overflow flag: here, whether every gradient is finite.
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g, _ in grads_and_vars if g is not None])
        self._last_step_finite.assign(finite)
        return super().apply_gradients(grads_and_vars, name=name)
