"""Collective helpers: identities when the process is not a cluster worker."""
from npu_device import npu_device


def _single():
    ctx = npu_device.global_npu_ctx()
    return ctx is None or not ctx.is_cluster_worker()


def all_reduce(values, reduction="mean", fusion=1, fusion_id=-1, group="hccl_world_group"):
    if _single():
        return values
    raise NotImplementedError("the double has no cluster")


def broadcast(values, root_rank=0, fusion=2, fusion_id=0, group="hccl_world_group"):
    if not _single():
        raise NotImplementedError("the double has no cluster")


def npu_distributed_keras_optimizer_wrapper(optimizer, reduce_reduction="mean", fusion=1, fusion_id=-1,
                                            group="hccl_world_group"):
    import tensorflow as tf
    return tf.keras.optimizers.get(optimizer)


def shard_and_rebatch_dataset(dataset, global_bs):
    if _single():
        return dataset, global_bs
    raise NotImplementedError("the double has no cluster")


def grouping_gradients_apply(*args, **kwargs):
    raise NotImplementedError


def grouping_broadcast(*args, **kwargs):
    raise NotImplementedError
