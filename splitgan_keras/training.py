"""run(cfg): set up the device, load data, build or restore the model, train with Model.fit,
then write the final checkpoint, sample grid and export; record_parity(cfg): a parity record.

What a run survives (README: reliability): a kill at any moment (checkpoints, records, grids and
exports are written atomically and --resume takes the newest checkpoint that reads back),
SIGTERM/SIGINT (checkpoint, then exit 3), a non-finite loss (stop before saving it, exit 4), and
a full or unwritable disk (a one-line error; the last checkpoint stays good).
"""
from __future__ import annotations

import dataclasses
import errno
import os
import re
import time
from typing import List, Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import (callbacks, checkpoints, class_split, commands, config as config_lib,
                            datasets, export, files, gan as gan_lib, networks, optimizers, parity, pictures,
                            pipeline, rundir, runtime as runtime_lib, sampling, splitting, tf1_import)
from splitgan_keras.errors import NonFiniteError, UserError
from splitgan_keras.metrics import builtin_quality, registry


@dataclasses.dataclass(frozen=True)
class Result:
    iteration: int                  # completed iterations
    checkpoint: str                 # path of the last checkpoint
    sample_grid: Optional[str]      # path of the last sample grid
    export_dir: Optional[str]       # the exported generator, once the run is complete
    interrupted: bool = False       # stopped by SIGTERM/SIGINT (resumable)


def log(message: str) -> None:
    print(message, flush=True)


class _HideSlowCallbackWarning:
    """Keras warns when a callback outlasts a training step; grids and checkpoints do by design."""

    @staticmethod
    def filter(record) -> bool:
        return "is slow compared to the batch time" not in record.getMessage()


tf.get_logger().addFilter(_HideSlowCallbackWarning)


def _parameter_count(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def build_gan(cfg: config_lib.Config, data: datasets.ImageData, runtime: runtime_lib.Runtime) -> gan_lib.SplitGAN:
    """Networks, the SplitGAN around them and both optimizers, compiled and with all variables."""
    generator = networks.Generator(width=cfg.model.width, image_size=cfg.model.image_size,
                                   initial_classes=data.num_classes)
    critic = networks.Critic(width=cfg.model.width)
    gan = gan_lib.SplitGAN(generator, critic, data.labels, cfg.train)
    t = cfg.train

    def make_optimizer():
        return runtime.wrap_optimizer(optimizers.adam(gan.learning_rate, t.adam_beta1, t.adam_beta2, t.adam_epsilon))

    gan.compile(make_optimizer(), make_optimizer(), xla=runtime.xla,
                steps_per_execution=cfg.runtime.iterations_per_call)
    return gan


def _start_from_tf1(path: str, gan: gan_lib.SplitGAN, data: datasets.ImageData) -> None:
    num_classes = tf1_import.load_tf1_checkpoint(path, gan.generator, gan.critic, gan.g_optimizer, gan.d_optimizer)
    if gan.ema_generator is not None:
        gan.reset_average()
    if num_classes != data.num_classes:
        raise UserError("--init-from-tf1 %s has %d classes but the data set has %d: TF1 checkpoints do not store "
                        "the per-image labels of a split, so start from one saved before any split"
                        % (path, num_classes, data.num_classes))
    done = tf1_import.iteration_from_name(path)
    if done is not None:
        gan.iteration.assign(done + 1)  # the original names checkpoints by the iteration just finished


def _prepare(cfg: config_lib.Config, data: Optional[datasets.ImageData]):
    """Checks the config, sets up the device, loads the data and builds the model: (runtime, data, gan)."""
    config_lib.validate(cfg)
    runtime = runtime_lib.setup(cfg)
    if data is None:
        data = datasets.load(cfg)
    splitting.check_capacity(data.num_classes, len(cfg.split.split_at), networks.MAX_CLASSES)
    return runtime, data, build_gan(cfg, data, runtime)


def record_parity(cfg: config_lib.Config, path: str, iterations: int,
                  data: Optional[datasets.ImageData] = None) -> None:
    """Runs `iterations` deterministic iterations from scratch and writes a parity record to `path`.

    Nothing else is written; scheduled class splits are not run.
    """
    if iterations < 1:
        raise UserError("--parity-iterations must be at least 1, got %d" % iterations)
    cfg = config_lib.with_overrides(cfg, {"runtime.deterministic": True, "runtime.iterations_per_call": 1},
                                    "parity record")  # every iteration recorded
    runtime, data, gan = _prepare(cfg, data)
    log("parity record: %d iterations | %s | %s" % (iterations, runtime.describe(), data.source))
    recorder = callbacks.ParityRecorder(gan.generator, data.num_classes, cfg.train.seed)
    batches = pipeline.iteration_batches(data.images, cfg.train.batch_size, cfg.train.n_critic, cfg.train.seed)
    gan.fit(batches, epochs=1, steps_per_epoch=iterations, verbose=0, callbacks=[recorder])
    parity.write(path, cfg, runtime, recorder.entries)
    log("wrote %s" % path)


def eval_metric_names(eval_cfg) -> List[str]:
    """Protocol names (metrics.registry) of the metrics the config asks for in training."""
    names = {"is": "is%d" % eval_cfg.samples, "fid": "fid%d_train" % eval_cfg.samples,
             "builtin_quality": registry.DEFAULT_BUILTIN_QUALITY}
    return [names[m] for m in eval_cfg.metrics]


def _evaluator(cfg: config_lib.Config, data: datasets.ImageData, gan) -> registry.Evaluator:
    """The metrics of this run, reading the live class state of `gan`."""
    return registry.Evaluator(
        cfg.eval.inception, data.images, data.source, cfg.eval.cache_dir, run_cfg=cfg,
        class_state=lambda: (gan.example_labels.numpy(), splitting.generator_parents(gan.generator)))


def _evaluation_callback(cfg, source, store, evaluator) -> Optional[callbacks.PeriodicEvaluation]:
    if not cfg.eval.every:
        return None
    names = eval_metric_names(cfg.eval)
    evaluator.check(names)  # a missing Inception module fails now, before anything is written
    best_metric = next((n for n in names if n.startswith("is")), "")
    best = checkpoints.BestCheckpoint(store, rundir.path(cfg, rundir.CHECKPOINTS, "best"), best_metric) \
        if best_metric else None
    return callbacks.PeriodicEvaluation(evaluator, names, source, cfg.eval.every, rundir.path(cfg, rundir.LOGS),
                                        cfg.train.seed, best, best_metric, cfg.eval.best_after)


def _restore_or_start(cfg, gan, data, store, resume: bool, init_from_tf1: Optional[str]) -> None:
    if resume:
        restored = store.restore_latest_good(log)
        log("resumed from %s" % restored if restored else
            "no checkpoint in %s yet; starting from iteration 0" % rundir.path(cfg, rundir.CHECKPOINTS))
    elif init_from_tf1:
        _start_from_tf1(init_from_tf1, gan, data)
        log("started from TF1 checkpoint %s" % init_from_tf1)


_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR)
_DISK_MESSAGES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied",
                  "Not a directory")


def _disk_problem(error: Exception, run_dir: str) -> bool:
    """True for a failed write into the run dir: a file-system OSError, one about a path in the run
    dir, or a TensorFlow error (checkpoint, summary or export writer) that reports such a problem."""
    if isinstance(error, OSError):
        inside = bool(error.filename) and os.path.abspath(str(error.filename)).startswith(os.path.abspath(run_dir))
        return error.errno in _DISK_ERRNOS or inside
    return any(text in str(error) for text in _DISK_MESSAGES)


def _write_diagnostic(cfg, guard: callbacks.NonFiniteGuard, store) -> str:
    path = rundir.path(cfg, "nonfinite.json")
    last = guard.recent[-1] if guard.recent else {}
    files.write_json(path, {"recent_iterations": list(guard.recent), "learning_rate": last.get("lr"),
                            "loss_scale": {k: v for k, v in last.items() if k.endswith("loss_scale")},
                            "skipped_steps": dict(guard.skipped), "last_good_checkpoint": store.latest})
    return path


def run(cfg: config_lib.Config, data: Optional[datasets.ImageData] = None, resume: bool = False,
        stop_at: Optional[int] = None, init_from_tf1: Optional[str] = None) -> Result:
    """Trains (or continues) the run described by `cfg`.

    Args:
      cfg: the resolved configuration (rundir.resolve).
      data: the training set, if already loaded (datasets.load); loaded from cfg.data otherwise.
      resume: continue from the newest checkpoint in the run dir that reads back completely.
      stop_at: end this session after this many completed iterations (the learning-rate schedule
        still spans cfg.train.iterations); --resume continues later.
      init_from_tf1: a checkpoint of the original TF1 code to start a new run from.

    Raises:
      UserError: bad input, or a run dir that cannot be written (full disk, permissions).
      NonFiniteError: a loss or gradient went NaN/inf; nothing broken was saved.
    """
    end = cfg.train.iterations if stop_at is None else stop_at
    if not 1 <= end <= cfg.train.iterations:
        raise UserError("--stop-at %d must lie in 1..%d (--iterations)" % (end, cfg.train.iterations))
    if resume and init_from_tf1:
        raise UserError("--init-from-tf1 starts a new run and cannot be combined with --resume")
    checkpoint_dir = rundir.path(cfg, rundir.CHECKPOINTS)
    try:
        runtime, data, gan = _prepare(cfg, data)
        store = checkpoints.TrainingCheckpoints(checkpoint_dir, gan, cfg.output.keep_checkpoints)
        _restore_or_start(cfg, gan, data, store, resume, init_from_tf1)
        source = sampling.GeneratorSource(gan.sampling_generator)
        evaluator = _evaluator(cfg, data, gan)
        evaluation = _evaluation_callback(cfg, source, store, evaluator)
        rundir.write_config(cfg)
        return _train(cfg, runtime, data, gan, store, source, evaluation, evaluator, end)
    except tf.errors.ResourceExhaustedError as e:
        if _disk_problem(e, cfg.output.run_dir):
            raise _write_error(cfg, checkpoint_dir, e)
        raise UserError("out of device memory with --width %d and --batch-size %d (%s); use smaller ones, or "
                        "--precision mixed; the last complete checkpoint is %s" % (
                            cfg.model.width, cfg.train.batch_size, _first_line(e)[:200],
                            tf.train.latest_checkpoint(checkpoint_dir) or "none"))
    except (OSError, tf.errors.OpError) as e:
        if not _disk_problem(e, cfg.output.run_dir):
            raise
        raise _write_error(cfg, checkpoint_dir, e)


def _first_line(e: Exception) -> str:
    return re.sub(r"^\{\{[^}]*\}\}\s*", "", str(e).splitlines()[0])  # without TF's op-node prefix


def _write_error(cfg, checkpoint_dir: str, e: Exception) -> UserError:
    then = ("continue with: %s" % commands.train_command("--run-dir", cfg.output.run_dir, "--resume")
            if rundir.holds_run(cfg.output.run_dir) else "run the same command again")
    return UserError("cannot write into --run-dir %s (%s); the last complete checkpoint is %s; make room (or "
                     "fix the permissions), then %s"
                     % (cfg.output.run_dir, _first_line(e), tf.train.latest_checkpoint(checkpoint_dir) or "none", then))


def _train(cfg, runtime, data, gan, store, source, evaluation, evaluator, end: int) -> Result:
    started = time.perf_counter()
    start = int(gan.iteration.numpy())
    k = cfg.runtime.iterations_per_call
    if (end - start) % k:
        raise UserError("--iterations-per-call %d does not divide the %d iterations from %d to %d (--stop-at or the "
                        "checkpoint resumed from); choose another value" % (k, end - start, start, end))
    log("%s | %s | generator %d, critic %d parameters | run dir %s"
        % (runtime.describe(), data.source, _parameter_count(gan.generator), _parameter_count(gan.critic),
           cfg.output.run_dir))
    class_names = pictures.ClassNames.for_run(cfg)
    grids = callbacks.SampleGrids(
        source, rundir.path(cfg, rundir.SAMPLES), cfg.output.sample_every, cfg.output.samples_per_class,
        cfg.train.seed, lambda: class_names(gan.example_labels.numpy(), splitting.generator_parents(gan.generator)),
        rundir.path(cfg, rundir.LOGS))
    splitter = class_split.ClassSplitter(gan, data, cfg.split, cfg.train.batch_size, cfg.train.seed,
                                         rundir.path(cfg, rundir.SPLITS), rundir.path(cfg, rundir.LOGS), class_names)
    guard = callbacks.NonFiniteGuard(runtime.loss_scale_optimizer is not None)
    with callbacks.StopOnSignal() as stop:
        if start < end:
            log("training iterations %d..%d of %d" % (start + 1, end, cfg.train.iterations))
            batches = pipeline.iteration_batches(data.images, cfg.train.batch_size, cfg.train.n_critic,
                                                 cfg.train.seed, start_iteration=start)
            try:
                gan.fit(batches, epochs=1, steps_per_epoch=end - start, verbose=0, callbacks=[
                    guard, stop,  # first: nothing may act on a broken or interrupted step
                    callbacks.ClassSplitCallback(splitter, cfg.split.split_at, store),
                    callbacks.ProgressReport(rundir.path(cfg, rundir.LOGS), cfg.output.log_every, end),
                    callbacks.PeriodicCheckpoint(store, cfg.output.checkpoint_every),
                    grids] + ([evaluation] if evaluation else []))
            except NonFiniteError as e:
                raise NonFiniteError("%s; the last good checkpoint is %s; recent values in %s"
                                     % (e, store.latest or "none (no checkpoint yet)", _write_diagnostic(cfg, guard, store)))
        checkpoint = store.save()
    completed = int(gan.iteration.numpy())
    resume = commands.train_command("--run-dir", cfg.output.run_dir, "--resume")
    if stop.received:
        log("stopped by %s after iteration %d; checkpoint %s; continue with: %s"
            % (stop.received, completed, checkpoint, resume))
        return Result(completed, checkpoint, None, None, interrupted=True)
    grid = callbacks.grid_path(rundir.path(cfg, rundir.SAMPLES), completed)
    if not os.path.exists(grid):
        grids.write(completed)
    export_dir = None
    if completed >= cfg.train.iterations:
        export_dir = export.export_generator(gan.sampling_generator, rundir.path(cfg, rundir.EXPORT),
                                             runtime.host_scope)
    if guard.skipped:
        log("steps skipped by dynamic loss scaling: %s" % ", ".join("%s %d" % kv for kv in sorted(guard.skipped.items())))
    if cfg.data.dataset == "builtin":
        name = registry.DEFAULT_BUILTIN_QUALITY
        log(builtin_quality.describe(evaluator.evaluate([name], source, cfg.train.seed), name))
    log("done: %d iterations in %s | checkpoint %s | samples %s%s"
        % (completed, callbacks.format_duration(time.perf_counter() - started), checkpoint, grid,
           " | export %s" % export_dir if export_dir else " | continue with: %s" % resume))
    return Result(completed, checkpoint, grid, export_dir)
