"""Building a run's model: the checked config, the device, the data and the compiled SplitGAN."""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import compat, config as config_lib, runtime as runtime_lib
from splitgan_keras.artefacts import pictures, rundir, tf1_import
from splitgan_keras.data import datasets, pipeline
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.models import gan as gan_lib, networks, optimizers
from splitgan_keras.split import allocation, rule as rule_lib, step
from splitgan_keras.train.run_log import RunLog
from splitgan_keras.train.split_records import SplitRecords


class _HideSlowCallbackWarning:
    """Keras warns when a callback outlasts a training step; grids and checkpoints do by design."""

    @staticmethod
    def filter(record) -> bool:
        return "is slow compared to the batch time" not in record.getMessage()


tf.get_logger().addFilter(_HideSlowCallbackWarning)


def parameter_count(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def build_gan(cfg: config_lib.Config, data: ImageData, runtime: runtime_lib.Runtime) -> gan_lib.SplitGAN:
    """Networks, the SplitGAN around them and both optimizers, compiled and with all variables,
    on the runtime's replicas (every NPU rank then holds rank 0's weights)."""
    replicas, t = runtime.replicas, cfg.train
    with replicas.scope():
        generator = networks.Generator(width=cfg.model.width, image_size=cfg.model.image_size,
                                       initial_classes=data.num_classes)
        critic = networks.Critic(width=cfg.model.width)
        gan = gan_lib.SplitGAN(generator, critic, data.labels, t, replicas)

        def make_optimizer():
            return runtime.wrap_optimizer(optimizers.adam(gan.learning_rate, t.adam_beta1, t.adam_beta2,
                                                          t.adam_epsilon))

        # XLA on the CPU ran the critic steps 18 times slower in a loop than unrolled (the loop's
        # reason, compile time, is 40 s unrolled there): docs/benchmarks.md, Compiling.
        gan.compile(make_optimizer(), make_optimizer(), xla=runtime.xla,
                    critic_loop=not runtime.xla or (runtime.device != "cpu" and compat.xla_compiles_critic_loop()),
                    steps_per_execution=cfg.runtime.iterations_per_call)
    replicas.broadcast(generator.trainable_variables + critic.trainable_variables)
    return gan


def training_inputs(cfg: config_lib.Config, data: ImageData, runtime: runtime_lib.Runtime, start_iteration: int):
    """What Model.fit reads: each replica's shard of every iteration's inputs, from start_iteration on."""
    return runtime.replicas.distribute(lambda shards, count: pipeline.iteration_inputs(
        data.images, cfg.train, start_iteration, shards, count))


def prepare(cfg: config_lib.Config, data: Optional[ImageData]):
    """Sets up the device, loads the data and builds the model: (runtime, data, gan). `cfg` must
    have passed config_checks.validate (the command line checks it before TensorFlow starts)."""
    runtime = runtime_lib.setup(cfg)
    if data is None:
        data = datasets.load(cfg)
    allocation.check_schedule(data.num_classes, len(cfg.split.split_at),
                              rule_lib.from_config(cfg.split, cfg.train.seed).max_new_per_class, networks.MAX_CLASSES)
    return runtime, data, build_gan(cfg, data, runtime)


def splitter(cfg: config_lib.Config, data: ImageData, gan: gan_lib.SplitGAN, source,
             class_names: pictures.ClassNames, run_log: RunLog, write_records: bool = True) -> step.ClassSplitter:
    """The split step a config describes, recording into the run dir and its log (samples from
    `source`) unless `write_records` is off (a process that is not the chief)."""
    records = None if not write_records else SplitRecords(
        data.images, source, rundir.path(cfg, rundir.SPLITS), run_log, class_names, cfg.train.seed)
    return step.ClassSplitter(gan, data, rule_lib.from_config(cfg.split, cfg.train.seed), cfg.train.batch_size,
                              cfg.split.feature_norm, records, cfg.train.seed, cfg.split.feature_blocks)


def start_from_tf1(path: str, gan: gan_lib.SplitGAN, data: ImageData) -> None:
    """Loads a checkpoint of the original TF1 code into a new run's SplitGAN (weights, Adam, iteration)."""
    num_classes = tf1_import.load_tf1_checkpoint(path, gan.generator, gan.critic, gan.g_optimizer, gan.d_optimizer)
    if gan.ema_generator is not None:
        gan.reset_ema()
    if num_classes != data.num_classes:
        raise UserError("--init-from-tf1 %s has %d classes but the data set has %d: TF1 checkpoints do not store "
                        "the per-image labels of a split, so start from one saved before any split"
                        % (path, num_classes, data.num_classes))
    done = tf1_import.iteration_from_name(path)
    if done is not None:
        gan.iteration.assign(done + 1)  # the original names checkpoints by the iteration just finished
