"""Data-parallel replicas: how one training iteration is spread over devices.

R replicas each compute the iteration on their shard of every global batch (data/pipeline.py)
and average their gradients and logged values before every update, so they all hold the same
weights and, together, compute what one device computes on the whole batch. The engines are
the ones users already have: a tf.distribute strategy (MirroredStrategy over GPUs or logical
CPUs, MultiWorkerMirroredStrategy over hosts configured by TF_CONFIG), or on Ascend one process
per NPU with HCCL collectives through npu_device (runtime.py opens it and hands its `distribute`
module here; nothing else imports npu_device).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Iterable, Iterator, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras.errors import UserError

# What a collective raises when another process of the job has died or stopped answering (its
# timeout: runtime.collective_timeout).
LOST_REPLICA_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)


@dataclasses.dataclass(frozen=True)
class Replicas:
    """Attributes:
      count: R, the replicas in the job.
      shards: the replicas this process runs, in order (their shard numbers in 0..R-1).
      strategy: the tf.distribute strategy that runs them, or None (one device; the NPU).
      hccl: npu_device.distribute on an NPU cluster worker, else None.
      is_chief: this process writes the run dir (checkpoints, logs, pictures, records, export).
      description: for logs and parity records.
    """

    count: int = 1
    shards: Tuple[int, ...] = (0,)
    strategy: Any = None
    hccl: Any = None
    is_chief: bool = True
    description: str = "1 replica"

    def scope(self):
        """Where the model and optimizers must be created (the strategy's scope)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def mean(self, values):
        """The mean over all replicas of a nest of tensors, called in replica context (in the
        training step); the values themselves on one replica."""
        if self.count == 1:
            return values
        if self.hccl is not None:
            flat = tf.nest.flatten(values)
            return tf.nest.pack_sequence_as(values, self.hccl.all_reduce(flat, "mean"))
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, values)

    def apply_gradients(self, optimizer, grads, variables) -> None:
        """Applies gradients that `mean` has averaged already (a strategy would sum them again)."""
        if self.strategy is not None:
            optimizer.apply_gradients(zip(grads, variables), experimental_aggregate_gradients=False)
        else:
            optimizer.apply_gradients(zip(grads, variables))

    def broadcast(self, variables) -> None:
        """Gives every NPU rank rank 0's values (Huawei's step after building the networks).
        Strategy replicas are mirrored already; one replica has nothing to do."""
        if self.hccl is not None:
            self.hccl.broadcast(list(variables), root_rank=0)

    def distribute(self, make_dataset: Callable[[Tuple[int, ...], int], tf.data.Dataset]):
        """The input of Model.fit: make_dataset(shards, R) gives one element per shard and iteration,
        in the order of `shards`; a strategy takes each worker's elements round-robin onto its replicas."""
        if self.strategy is None:
            return make_dataset(self.shards, self.count)

        def worker_dataset(context: tf.distribute.InputContext):
            local = context.num_replicas_in_sync // context.num_input_pipelines
            first = context.input_pipeline_id * local
            return make_dataset(tuple(range(first, first + local)), self.count)

        return self.strategy.distribute_datasets_from_function(worker_dataset)

    def bn_groups(self, global_groups: int) -> int:
        """Batch-norm groups per replica for `global_groups` groups of the global batch: with R
        dividing it, the same groups; with more replicas than groups, one per replica (smaller
        groups than the single device's: docs/devices.md, several devices)."""
        if global_groups % self.count == 0:
            return global_groups // self.count
        if self.count % global_groups == 0:
            return 1
        raise UserError("train.bn_groups %d and %d replicas: one must divide the other" % (global_groups, self.count))

    def check_batches(self, batch_size: int, generator_batch: int) -> None:
        """Raises UserError unless both global batches divide evenly over the replicas."""
        for flag, size in (("--batch-size", batch_size), ("the generator batch (train.gen_batch_multiple x "
                                                           "--batch-size)", generator_batch)):
            if size % self.count:
                raise UserError("%s %d does not divide evenly over %d replicas (%s); choose a batch size or a replica "
                                "count that divides it" % (flag, size, self.count, self.description))

    def batch_runner(self, fn: Callable) -> Callable[[Iterable[tuple]], Iterator]:
        """A pass over many batches, spread over the replicas of a strategy.

        fn(*args) -> a nest of tensors, for one batch (a feature pass, an Inception pass, a
        generator's samples: a batch's statistics stay its own). The returned function maps an
        iterable of argument tuples (numpy or tensors) to the outputs of each batch (numpy nests),
        in order, on every process. Under a strategy each replica runs one batch of every R
        consecutive ones of the same shapes (a group ends early, filled up with its last batch,
        where the shapes change or the batches end); the outputs are read from the replicas of
        this process (MirroredStrategy) or gathered to every process (MultiWorkerMirroredStrategy),
        so every process must run the pass. Otherwise the batches run one after the other here.
        The NPU ranks run every batch each: npu_device documents no gather (one built from
        all_reduce sums of zero-padded buffers is left out).
        """
        if self.strategy is None or self.count == 1:
            return lambda batches: (tf.nest.map_structure(np.asarray, fn(*args)) for args in batches)
        strategy, count = self.strategy, self.count
        local = len(self.shards) == count  # MirroredStrategy: every replica's outputs are in this process

        @tf.function
        def on_replicas(args):
            outputs = strategy.run(fn, args=args)
            if local:  # no collective needed (and none to collide with another strategy's in this process)
                return strategy.experimental_local_results(outputs)
            gathered = []
            for out in tf.nest.flatten(outputs):
                # One gather after the other: launched together, the replicas may pair up
                # different outputs' collectives.
                with tf.control_dependencies(gathered):
                    gathered.append(_gather(strategy, out))
            return tf.nest.pack_sequence_as(outputs, gathered)

        def outputs(group: list) -> Iterator:
            used = len(group)
            group = group + [group[-1]] * (count - used)
            results = on_replicas(_per_replica(strategy, group))
            if local:
                return (tf.nest.map_structure(np.asarray, r) for r in results[:used])
            return _split_gathered(results, count, used)

        def run(batches: Iterable[tuple]) -> Iterator:
            group = []
            for args in batches:
                args = tuple(tf.convert_to_tensor(a) for a in args)
                if group and [a.shape for a in args] != [a.shape for a in group[0]]:
                    yield from outputs(group)
                    group = []
                group.append(args)
                if len(group) == count:
                    yield from outputs(group)
                    group = []
            if group:
                yield from outputs(group)

        return run


def _gather(strategy, tensor):
    """strategy.gather(tensor, axis=0). The collective carries float16/32/64 and int32/64 only, so
    narrower types travel widened, exactly (uint8 images as int32, bfloat16 as float32)."""
    if tensor.dtype in (tf.float16, tf.float32, tf.float64, tf.int32, tf.int64):
        return strategy.gather(tensor, axis=0)
    wide = tf.int32 if tensor.dtype.is_integer else tf.float32
    return tf.cast(strategy.gather(tf.cast(tensor, wide), axis=0), tensor.dtype)


def _per_replica(strategy, group):
    """Replica r's arguments: group[r] (the replica ids are the job's, across processes)."""
    return strategy.experimental_distribute_values_from_function(
        lambda context: group[context.replica_id_in_sync_group])


def _split_gathered(gathered, count: int, used: int) -> Iterator:
    """The first `used` batches' outputs from outputs gathered over `count` replicas ([count B, ...])."""
    parts = [np.split(t.numpy(), count) for t in tf.nest.flatten(gathered)]
    for r in range(used):
        yield tf.nest.pack_sequence_as(gathered, [p[r] for p in parts])
