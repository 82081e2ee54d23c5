"""The metrics during training: which ones the config asks for, and the callback that computes
them every eval.every iterations and keeps the best checkpoint."""
from __future__ import annotations

from typing import Optional

from splitgan_keras import config as config_lib, metric_names
from splitgan_keras.artefacts import checkpoints, rundir
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.evaluate.metrics import builtin_quality, registry
from splitgan_keras.train import callbacks


def evaluator(cfg: config_lib.Config, data: ImageData, gan) -> registry.Evaluator:
    """The metrics of this run, reading the live class state of `gan`."""
    return registry.Evaluator(
        cfg.eval.inception, data, cfg.eval.cache_dir,
        example_classes=lambda: (gan.example_labels.numpy(), gan.generator.class_state.parents()),
        replicas=gan.replicas)


def quality_line(run_evaluator: registry.Evaluator, source, seed: int) -> str:
    """The built-in probe's figure of `source`, as the line the end of a run prints."""
    name = metric_names.BUILTIN_QUALITY.name(metric_names.BUILTIN_QUALITY.default_samples)
    return builtin_quality.describe(run_evaluator.evaluate([name], source, seed), name)


def periodic_evaluation(cfg: config_lib.Config, source, store: checkpoints.TrainingCheckpoints,
                        run_evaluator: registry.Evaluator, run_log,
                        writes: bool = True) -> Optional[callbacks.PeriodicEvaluation]:
    """The callback, or None when eval.every is 0. A missing Inception module fails now, before
    anything is written. `run_log`: the run's log (run_log.RunLog); `writes`: whether this
    process keeps the evaluation history in the run dir (the chief)."""
    if not cfg.eval.every:
        return None
    metrics = run_evaluator.check(list(cfg.eval.metrics))
    if metric_names.INCEPTION in metric_names.needed(metrics):
        print(run_evaluator.network().summary(), flush=True)  # which module computes the figures
    names = [m.name for m in metrics]
    best_metric = next((m.name for m in metrics if m.kind == metric_names.INCEPTION_SCORE), "")
    best = checkpoints.BestCheckpoint(store, rundir.path(cfg, rundir.CHECKPOINTS, "best"), best_metric) \
        if best_metric else None
    return callbacks.PeriodicEvaluation(
        run_evaluator, names, source, cfg.eval.every, run_log, cfg.train.seed, best, best_metric, cfg.eval.best_after,
        history=rundir.read_evaluations(cfg.output.run_dir),
        record=(lambda history: rundir.write_evaluations(cfg, history)) if writes else None,
        run_dir=cfg.output.run_dir)
