"""Collective helpers: identities when the process is not a cluster worker (as the adapter's,
tf_adapter_2.x/python/npu_device/distribute/hccl.py).

On a cluster worker (RANK_SIZE > 1) the double has no HCCL: every rank gets its own values
back, as if the other ranks had computed the same. It records each call, and each all_reduce
every time it runs (not only when traced), so tests can check that every step reduces. As strict
as the adapter and HCCL: broadcast assigns to what it is given (variables only), and all_reduce
refuses the dtypes HcclAllReduce does not reduce on the 910 (Atlas training products: int8, int32,
int64, float16, float32).
"""
import tensorflow as tf

from npu_device import npu_device


def _single():
    ctx = npu_device.global_npu_ctx()
    return ctx is None or not ctx.is_cluster_worker()


def _record(event, **details):
    from npu_device import record
    record(event, **details)


HCCL_DTYPES = (tf.int8, tf.int32, tf.int64, tf.float16, tf.float32)


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
    count = sum(v is not None for v in flat)
    ran = tf.py_function(lambda: _record("all_reduce", reduction=reduction, tensors=count) or 0, [], tf.int32)
    with tf.control_dependencies([ran]):
        reduced = [None if v is None else tf.identity(v) for v in flat]
    return reduced if isinstance(values, (list, tuple)) else reduced[0]


def broadcast(values, root_rank=0, fusion=2, fusion_id=0, group="hccl_world_group"):
    if _single():
        return None
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    for value in values:  # the adapter assigns root_rank's value to each: a tensor fails here as it does there
        value.assign(tf.identity(value))
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
