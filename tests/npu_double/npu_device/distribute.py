"""Collective helpers: identities when the process is not a cluster worker (as the adapter's,
tf_adapter_2.x/python/npu_device/distribute/hccl.py).

On a cluster worker (RANK_SIZE > 1) every collective goes over the double's HCCL (link.py): an
all_reduce combines all ranks' values, a broadcast gives root_rank's, and a collective that differs
between the ranks fails on each. It records each broadcast, and each all_reduce every time it runs
(not only when traced), so tests can check that every step reduces. As strict as the adapter and
HCCL: broadcast assigns to what it is given (variables only), and all_reduce refuses the dtypes
HcclAllReduce does not reduce on the 910 (Atlas training products: int8, int32, float16, float32).
"""
import tensorflow as tf

from npu_device import npu_device


def _single():
    ctx = npu_device.global_npu_ctx()
    return ctx is None or not ctx.is_cluster_worker()


def _record(event, **details):
    from npu_device import record
    record(event, **details)


HCCL_DTYPES = (tf.int8, tf.int32, tf.float16, tf.float32)


def _exchange(value, header):
    """value after the collective `header` over the ranks (the link of npu_device.open())."""
    link = npu_device.global_npu_ctx().link
    result = tf.numpy_function(lambda array: link.collective(header, array), [value], value.dtype,
                               name=npu_device.DOUBLE_OP_PREFIX + header["op"])
    result.set_shape(value.shape)
    return result


@tf.function  # the adapter's npu_compat_function, whose jit_compile=False changes nothing here
def _all_reduce(values, reduction):
    """As the adapter's _all_reduce: each tensor its own collective, in order; "mean" is a sum
    times 1/workers (floats) or divided by workers (integers)."""
    workers = npu_device.global_npu_ctx().workers_num
    summed = "sum" if reduction == "mean" else reduction
    ran = tf.py_function(lambda: _record("all_reduce", reduction=reduction, tensors=len(values)) or 0, [], tf.int32,
                         name=npu_device.DOUBLE_OP_PREFIX + "record")
    reduced = []
    with tf.control_dependencies([ran]):
        for value in values:
            with tf.control_dependencies(reduced[-1:]):  # issued in program order on every rank
                result = _exchange(value, {"op": "all_reduce", "reduction": summed})
            if reduction == "mean":
                result = result * tf.cast(1.0 / workers, result.dtype) if result.dtype.is_floating else \
                    tf.divide(result, tf.cast(workers, result.dtype))
            reduced.append(result)
    return reduced


def all_reduce(values, reduction="mean", fusion=1, fusion_id=-1, group="hccl_world_group"):
    if _single():
        return values
    if reduction not in ("mean", "sum", "max", "min", "prod"):
        raise ValueError("all_reduce: unknown reduction %r" % reduction)
    flat = list(values) if isinstance(values, (list, tuple)) else [values]
    for value in flat:
        if value is not None and tf.as_dtype(value.dtype) not in HCCL_DTYPES:
            raise TypeError("HcclAllReduce does not reduce %s on the Ascend 910 (it takes int8, int32, int64, float16 "
                            "and float32)" % tf.as_dtype(value.dtype).name)
    reduced = _all_reduce([v for v in flat if v is not None], reduction)
    results = [None if v is None else reduced.pop(0) for v in flat]
    return results if isinstance(values, (list, tuple)) else results[0]


@tf.function
def _broadcast(values, root_rank):
    assigned = []
    for value in values:  # the adapter assigns root_rank's value to each: a tensor fails here as it does there
        with tf.control_dependencies(assigned[-1:]):
            assigned.append(value.assign(_exchange(value, {"op": "broadcast", "root_rank": root_rank})))


def broadcast(values, root_rank=0, fusion=2, fusion_id=0, group="hccl_world_group"):
    if _single():
        return None
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    _broadcast(values, root_rank)
    _record("broadcast", variables=len(values), root_rank=root_rank)
    return None


def npu_distributed_keras_optimizer_wrapper(optimizer, reduce_reduction="mean", fusion=1, fusion_id=-1,
                                            group="hccl_world_group"):
    return tf.keras.optimizers.get(optimizer)


def shard_and_rebatch_dataset(dataset, global_bs):
    if _single():
        return dataset, global_bs
    ctx = npu_device.global_npu_ctx()
    if global_bs % ctx.workers_num:
        raise ValueError("batch size %d does not divide over %d workers" % (global_bs, ctx.workers_num))
    return dataset.shard(ctx.workers_num, ctx.worker_id), global_bs // ctx.workers_num


def grouping_gradients_apply(*args, **kwargs):
    raise NotImplementedError


def grouping_broadcast(*args, **kwargs):
    raise NotImplementedError
