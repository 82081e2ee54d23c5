"""run(cfg): set up the device, load data, build or restore the model, train with Model.fit,
then write the final checkpoint, sample grid and export.

What a run survives (docs/reliability.md): a kill at any moment (checkpoints, records, grids and
exports are written atomically and --resume takes the newest checkpoint that reads back),
SIGTERM/SIGINT (checkpoint, then exit 3), a non-finite loss (stop before saving it, exit 4), and
a full or unwritable disk (a one-line error; the last checkpoint stays good).
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Dict, Optional, Tuple

import tensorflow as tf

from splitgan_keras import config as config_lib, replicas as replicas_lib
from splitgan_keras.artefacts import checkpoints, export, pictures, rundir, sampling
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import NonFiniteError, UserError
from splitgan_keras.train import build, callbacks, commands, failures, scheduled_evaluation
from splitgan_keras.train.run_log import RunLog


@dataclasses.dataclass(frozen=True)
class Result:
    iteration: int                  # completed iterations
    checkpoint: str                 # path of the last checkpoint
    sample_grid: Optional[str]      # path of the last sample grid
    export_dir: Optional[str]       # the exported generator, once the run is complete
    interrupted: bool = False       # stopped by SIGTERM/SIGINT (resumable)
    # every evaluation of the run so far, oldest first: {"iteration": N, <metric>: value}
    evaluations: Tuple[Dict[str, float], ...] = ()


def log(message: str) -> None:
    print(message, flush=True)


def _restore_or_start(cfg, gan, data, store, resume: bool, init_from_tf1: Optional[str]) -> None:
    if resume:
        restored = store.restore_latest_good(log)
        log("resumed from %s" % restored if restored else
            "no checkpoint in %s yet; starting from iteration 0" % rundir.path(cfg, rundir.CHECKPOINTS))
    elif init_from_tf1:
        build.start_from_tf1(init_from_tf1, gan, data)
        log("started from TF1 checkpoint %s" % init_from_tf1)


def run(cfg: config_lib.Config, data: Optional[ImageData] = None, resume: bool = False,
        stop_at: Optional[int] = None, init_from_tf1: Optional[str] = None,
        claim_run_dir: Optional[Callable[[], None]] = None) -> Result:
    """Trains (or continues) the run described by `cfg`.

    Args:
      cfg: the resolved configuration (config.resolve), checked (config_checks.validate).
      data: the training set, if already loaded (datasets.load); loaded from cfg.data otherwise.
      resume: continue from the newest checkpoint in the run dir that reads back completely.
      stop_at: end this session after this many completed iterations (the learning-rate schedule
        still spans cfg.train.iterations); --resume continues later.
      init_from_tf1: a checkpoint of the original TF1 code to start a new run from.
      claim_run_dir: called once the runtime has confirmed that this process writes the run dir
        (the chief), when the caller has not claimed it yet: it locks the run dir and checks it.

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
    runtime = store = None
    run_log = RunLog(None)
    try:
        runtime, data, gan = build.prepare(cfg, data)
        chief = runtime.replicas.is_chief  # the one process of several that writes the run dir
        if chief and claim_run_dir is not None:
            claim_run_dir()
        run_log = RunLog(rundir.path(cfg, rundir.LOGS) if chief else None)
        store = checkpoints.TrainingCheckpoints(checkpoint_dir, gan, cfg.output.keep_checkpoints, writes=chief,
                                                report=log, check_run_dir=lambda: rundir.check_intact(cfg.output.run_dir))
        _restore_or_start(cfg, gan, data, store, resume, init_from_tf1)
        source = sampling.GeneratorSource(gan.sampling_generator)  # pictures: the chief's alone
        run_evaluator = scheduled_evaluation.evaluator(cfg, data, gan)
        # Every process evaluates together: the replicas share the generator's batches.
        shared_source = sampling.GeneratorSource(gan.sampling_generator, runtime.replicas)
        evaluation = scheduled_evaluation.periodic_evaluation(cfg, shared_source, store, run_evaluator, run_log,
                                                              writes=chief)
        if chief:
            rundir.write_config(cfg)  # after the checks above: a failed start writes nothing
        return _train(cfg, runtime, data, gan, store, source, run_evaluator, evaluation, run_log, end)
    except replicas_lib.LOST_REPLICA_ERRORS as e:
        if runtime is None or runtime.replicas.count == 1:
            raise
        raise failures.lost_replica_error(runtime.replicas, checkpoint_dir, e)
    except tf.errors.ResourceExhaustedError as e:
        if failures.disk_problem(e, cfg.output.run_dir):
            raise failures.write_error(cfg, checkpoint_dir, e)
        raise failures.memory_error(cfg, checkpoint_dir, e)
    except (OSError, tf.errors.OpError) as e:
        if not failures.disk_problem(e, cfg.output.run_dir):
            raise
        raise failures.write_error(cfg, checkpoint_dir, e)
    finally:
        run_log.close()
        if store is not None:
            store.close()


def _train(cfg, runtime, data, gan, store, source, run_evaluator, evaluation, run_log: RunLog, end: int) -> Result:
    started = time.perf_counter()
    start = int(gan.iteration.numpy())
    k = cfg.runtime.iterations_per_call
    if (end - start) % k:
        raise UserError("--iterations-per-call %d does not divide the %d iterations from %d to %d (--stop-at or the "
                        "checkpoint resumed from); choose another value" % (k, end - start, start, end))
    log("%s | %s | generator %d, critic %d parameters | run dir %s"
        % (runtime.describe(), data.description, build.parameter_count(gan.generator), build.parameter_count(gan.critic),
           cfg.output.run_dir))
    class_names = pictures.ClassNames(data.appearance)
    grids = callbacks.SampleGrids(
        source, rundir.path(cfg, rundir.SAMPLES), cfg.output.sample_every, cfg.output.samples_per_class,
        cfg.train.seed, lambda: class_names(gan.example_labels.numpy(), gan.generator.class_state.parents()),
        run_log)
    chief = runtime.replicas.is_chief
    guard = callbacks.NonFiniteGuard(runtime.loss_scale_optimizer is not None)
    splits = callbacks.ClassSplitCallback(
        build.splitter(cfg, data, gan, source, class_names, run_log, write_records=chief), cfg.split.split_at, store)
    # Every process splits, checkpoints and evaluates (the others into scratch space: a strategy
    # synchronises saves); only the chief reports and draws.
    writers = [callbacks.ProgressReport(run_log, cfg.output.log_every, end, cfg.train.batch_size * cfg.train.n_critic),
               grids]
    # The handlers stay until the run's last step: a signal while the grid or the export is written
    # lets that step finish whole, then stops (the resume finishes the rest).
    with callbacks.StopOnSignal(runtime.replicas.count) as stop:
        if start < end:
            log("training iterations %d..%d of %d" % (start + 1, end, cfg.train.iterations))
            between_iterations = [guard, stop, splits, callbacks.PeriodicCheckpoint(store, cfg.output.checkpoint_every)]
            between_iterations += (writers if chief else []) + ([evaluation] if evaluation else [])
            try:
                gan.fit(build.training_inputs(cfg, data, runtime, start), epochs=1, steps_per_epoch=end - start,
                        verbose=0, callbacks=between_iterations)
            except NonFiniteError as e:  # first in the list: nothing acted on the broken or interrupted step
                raise NonFiniteError("%s; the last good checkpoint is %s; recent values in %s" % (
                    e, store.latest or "none (no checkpoint yet)",
                    failures.write_nonfinite_diagnostic(cfg, guard, store.latest) if chief else "the chief's run dir"))
        checkpoint = store.save()
        completed = int(gan.iteration.numpy())
        history = tuple(evaluation.history) if evaluation else ()
        resume = commands.printed_train_command("--run-dir", cfg.output.run_dir, "--resume")
        if not chief and not stop.received:
            log("done: %d iterations in %s (%s; the chief writes the run dir)" % (
                completed, callbacks.format_duration(time.perf_counter() - started), runtime.replicas.description))
            return Result(completed, checkpoint, None, None, evaluations=history)
        grid = callbacks.grid_path(rundir.path(cfg, rundir.SAMPLES), completed)
        export_dir = None
        if chief and not stop.received and not os.path.exists(grid):
            grids.write(completed)
        if chief and not stop.received and completed >= cfg.train.iterations:
            export_dir = export.export_generator(gan.sampling_generator, rundir.path(cfg, rundir.EXPORT),
                                                 runtime.host_scope)
        if guard.skipped:
            log("steps skipped by dynamic loss scaling: %s"
                % ", ".join("%s %d" % kv for kv in sorted(guard.skipped.items())))
        if data.appearance is not None and not stop.received:
            log(scheduled_evaluation.quality_line(run_evaluator, source, cfg.train.seed))
        if stop.received:
            log("stopped by %s after iteration %d; checkpoint %s; continue with: %s"
                % (stop.received, completed, checkpoint, resume))
            return Result(completed, checkpoint, None, None, interrupted=True, evaluations=history)
        log("done: %d iterations in %s | checkpoint %s | samples %s%s"
            % (completed, callbacks.format_duration(time.perf_counter() - started), checkpoint, grid,
               " | export %s" % export_dir if export_dir else " | continue with: %s" % resume))
    return Result(completed, checkpoint, grid, export_dir, evaluations=history)
