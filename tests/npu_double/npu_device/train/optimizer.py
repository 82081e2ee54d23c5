"""NpuLossScaleOptimizer: a subclass of Keras' (OptimizerV2) LossScaleOptimizer, deciding as the adapter's
does (tf_adapter_2.x/python/npu_device/train/optimizer/npu_loss_scale_optimizer.py).

With an NPU context and the device in saturation mode (the 910's), an fp16 overflow saturates to
finite values, so the decision comes from the device's float status, not from the gradients (with
several ranks, the status summed over all of them, as the adapter's all_reduce does): the
update is skipped (the optimizer's iterations still count it), the loss scale halves down to 1,
and last_step_finite records the decision. The double's float status is the gradients' finiteness,
or an overflow that NPU_DOUBLE_OVERFLOW injects: "all", or the numbers (from 0) of the
apply_gradients calls of each optimizer that overflow, e.g. "2,3", on every rank or on the rank
NPU_DOUBLE_OVERFLOW_RANK names. Without an NPU context, or in
INF/NaN mode, it is Keras' optimizer and records nothing, as the adapter's.

On TF >= 2.11 the public LossScaleOptimizer is a dispatching base class, so the double subclasses
the concrete OptimizerV2 wrapper, which is what the TF 2.6 class is.
"""
import importlib
import os

import tensorflow as tf

_KerasLossScaleOptimizer = type(tf.keras.mixed_precision.LossScaleOptimizer(
    getattr(tf.keras.optimizers, "legacy", tf.keras.optimizers).Adam()))
_UnwrapPreventer = importlib.import_module(_KerasLossScaleOptimizer.__module__)._UnwrapPreventer


def _injected_overflow(call):
    """Whether the float status reads an overflow at this apply_gradients call (int64 scalar), on
    this rank (NPU_DOUBLE_OVERFLOW_RANK: only that rank's device overflows)."""
    from npu_device import npu_device
    only_rank = os.environ.get("NPU_DOUBLE_OVERFLOW_RANK", "").strip()
    if only_rank and int(only_rank) != npu_device.global_npu_ctx().worker_id:
        return tf.constant(False)
    setting = os.environ.get("NPU_DOUBLE_OVERFLOW", "").strip()
    if setting == "all":
        return tf.constant(True)
    calls = [int(c) for c in setting.split(",") if c.strip()]
    return tf.reduce_any(tf.equal(call, tf.constant(calls, tf.int64))) if calls else tf.constant(False)


def _update_loss_scale(state, finite):
    """The adapter's _npu_compat_loss_scale_update: grow after growth_steps finite steps, halve (down to 1) on an
    overflow."""
    def grow():
        return tf.cond(state.counter + 1 >= state.growth_steps,
                       lambda: tf.group(state.current_loss_scale.assign(state.current_loss_scale * state.multiplier),
                                        state.counter.assign(0)),
                       lambda: tf.group(state.counter.assign_add(1)))

    def shrink():
        return tf.group(state.counter.assign(0),
                        state.current_loss_scale.assign(tf.maximum(state.current_loss_scale / state.multiplier, 1)))

    return tf.cond(finite, grow, shrink)


def _record_step(finite, gradients_finite):
    """For tests: every decision as it runs (skipped or not, and whether the gradients were finite)."""
    from npu_device import record
    record("loss_scale_step", applied=finite, gradients_finite=gradients_finite)
    return 0


class NpuLossScaleOptimizer(_KerasLossScaleOptimizer):
    _HAS_AGGREGATE_GRAD = True

    def __init__(self, inner_optimizer, dynamic=True, initial_scale=None, dynamic_growth_steps=None):
        from npu_device import record
        super().__init__(inner_optimizer, dynamic, initial_scale, dynamic_growth_steps)
        self._last_step_finite = tf.Variable(False, trainable=False, name="npu_last_step_finite")
        self._calls = tf.Variable(0, dtype=tf.int64, trainable=False, name="npu_double_apply_calls")
        record("npu_loss_scale_optimizer", inner=type(inner_optimizer).__name__, dynamic=dynamic)

    @property
    def last_step_finite(self):
        return self._last_step_finite

    def apply_gradients(self, grads_and_vars, name=None):
        import npu_device
        from npu_device import branches, npu_device as device
        # From r1.13 the adapter defers to Keras in INF/NaN mode; before, it always reads the float status.
        if device.global_npu_ctx() is None or (branches.at_least(1, 13) and npu_device.is_inf_nan_enabled()):
            return super().apply_gradients(grads_and_vars, name=name)
        grads_and_vars = tuple(grads_and_vars)
        grads = [g for g, _ in grads_and_vars]
        call = self._calls.assign_add(1) - 1
        status_clear = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])
        # The adapter's _npu_finite_status_after_executed: the device's float status (here: the gradients, or an
        # injected overflow), summed over the ranks when there are several, so that all skip the step together.
        status = tf.cast(tf.logical_not(tf.logical_and(status_clear, tf.logical_not(_injected_overflow(call)))),
                         tf.float32)
        if device.global_npu_ctx().workers_num > 1:
            status = npu_device.distribute.all_reduce([status], "sum", fusion=0)[0]
        finite = tf.equal(status, 0.0)
        update = _update_loss_scale(self._loss_scale, finite) if self.dynamic else tf.no_op()
        self._last_step_finite.assign(finite)
        recorded = tf.py_function(lambda f, g: _record_step(bool(f), bool(g)), [finite, status_clear], tf.int32,
                                  name=device.DOUBLE_OP_PREFIX + "record")
        with tf.control_dependencies([recorded]):
            finite = tf.identity(finite)
        wrapped = _UnwrapPreventer([v for _, v in grads_and_vars])
        applied = tf.cond(finite, lambda: tf.group(self._apply_gradients(grads, wrapped, name)),
                          lambda: tf.group(self._optimizer.iterations.assign_add(1, read_value=False)))
        return tf.group(applied, update)
