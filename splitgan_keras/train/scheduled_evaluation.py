"""The metrics during training: which ones the config asks for, and the callback that computes
them every eval.every iterations and keeps the best checkpoint."""
from __future__ import annotations

from typing import List, Optional

from splitgan_keras import config as config_lib
from splitgan_keras.artefacts import checkpoints, rundir
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.evaluate.metrics import builtin_quality, registry
from splitgan_keras.train import callbacks


def metric_names(eval_cfg) -> List[str]:
    """Protocol names (evaluate/metrics/registry.py) of the metrics the config asks for in training."""
    names = {"is": "is%d" % eval_cfg.samples, "fid": "fid%d_train" % eval_cfg.samples,
             "builtin_quality": registry.DEFAULT_BUILTIN_QUALITY,
             "builtin_fid": registry.builtin_fid_name(eval_cfg.samples)}
    return [names[m] for m in eval_cfg.metrics]


def evaluator(cfg: config_lib.Config, data: ImageData, gan) -> registry.Evaluator:
    """The metrics of this run, reading the live class state of `gan`."""
    return registry.Evaluator(
        cfg.eval.inception, data.images, data.source, cfg.eval.cache_dir, run_cfg=cfg,
        class_state=lambda: (gan.example_labels.numpy(), gan.generator.class_state.parents()), replicas=gan.replicas)


def builtin_quality_line(run_evaluator: registry.Evaluator, source, seed: int) -> str:
    """The built-in dataset's quality figure of `source`, as the line the end of a run prints."""
    name = registry.DEFAULT_BUILTIN_QUALITY
    return builtin_quality.describe(run_evaluator.evaluate([name], source, seed), name)


def periodic_evaluation(cfg: config_lib.Config, source, store: checkpoints.TrainingCheckpoints,
                        run_evaluator: registry.Evaluator, run_log,
                        writes: bool = True) -> Optional[callbacks.PeriodicEvaluation]:
    """The callback, or None when eval.every is 0. A missing Inception module fails now, before
    anything is written. `run_log`: the run's log (run_log.RunLog); `writes`: whether this
    process keeps the evaluation history in the run dir (the chief)."""
    if not cfg.eval.every:
        return None
    names = metric_names(cfg.eval)
    run_evaluator.check(names)
    best_metric = next((n for n in names if n.startswith("is")), "")
    best = checkpoints.BestCheckpoint(store, rundir.path(cfg, rundir.CHECKPOINTS, "best"), best_metric) \
        if best_metric else None
    return callbacks.PeriodicEvaluation(
        run_evaluator, names, source, cfg.eval.every, run_log, cfg.train.seed, best, best_metric, cfg.eval.best_after,
        history=rundir.read_evaluations(cfg.output.run_dir),
        record=(lambda history: rundir.write_evaluations(cfg, history)) if writes else None)
