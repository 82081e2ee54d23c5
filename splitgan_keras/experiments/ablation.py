"""The paper's central comparison on the built-in dataset: no split, split, and an oracle.

Under one budget (a config with a split schedule, e.g. configs/quickstart.json), for every seed:

  no_split  the 10 colour classes all along (split.split_at emptied); with an unsupervised budget
            (configs/quickstart_unsupervised.json), one class all along;
  split     the config's schedule: 10 classes split into 20, or one class split again and again;
  oracle    the 20 true groups (colour and kind) as labels from the start (data.builtin_labels),
            supervised whatever the budget;
  split_ema the split condition with a moving average of the generator's weights (train.ema_decay)
            sampling, evaluating and exporting: what that addition beyond the original changes.

Each run is an ordinary training run (train/session.py, as train.py starts it, in this process) in
OUT/<condition>/seed<k>, evaluated every `eval_every` iterations with the built-in probe
(builtin_quality100: colour and sub-class accuracy) and the built-in FID (builtin_fid<N>_train);
the figures are read back from the runs' evaluation histories (evaluations.json), and the final classes
of the training images, scored against the 20 hidden groups (adjusted Rand index), from the last
checkpoint. A run dir that already holds a
complete run is read, not trained again, and one that holds an interrupted run is resumed, so an
interrupted ablation continues where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras import config as config_lib, config_checks, metric_names
from splitgan_keras.cli import flags
from splitgan_keras.artefacts import checkpoints, rundir
from splitgan_keras.data import datasets
from splitgan_keras.split import recovery
from splitgan_keras.errors import CommandEnd, UserError
from splitgan_keras.train import session

CONDITIONS = ("no_split", "split", "oracle", "split_ema")
COLOUR, SUBCLASS, FID = "colour", "subclass", "builtin_fid"  # the figures, as the report names them
# The built-in FID averaged over the evaluations of the second half of training: steadier than
# the last evaluation alone, which moves by about 0.03 from one evaluation to the next.
FID_SECOND_HALF = "builtin_fid_second_half"
GROUPS_ARI = "groups_ari"  # the final classes against the hidden groups (colour x kind)
FIGURES = (COLOUR, SUBCLASS, FID, FID_SECOND_HALF, GROUPS_ARI)
QUALITY = metric_names.BUILTIN_QUALITY.name(metric_names.BUILTIN_QUALITY.default_samples)


def _metric_keys(samples: int) -> Dict[str, str]:
    """figure -> the key of its value in an evaluation (evaluate/metrics/registry.Evaluator.evaluate)."""
    return {COLOUR: "%s/class_accuracy" % QUALITY, SUBCLASS: "%s/subclass_accuracy" % QUALITY,
            FID: metric_names.BUILTIN_FID.name(samples)}


@dataclasses.dataclass(frozen=True)
class Budget:
    """What every run shares: the config file, extra --set overrides, evaluation interval, FID
    samples, and the moving average's decay in the split_ema condition."""
    config_file: str
    overrides: Tuple[str, ...] = ()
    eval_every: int = 100
    fid_samples: int = 2000
    ema_decay: float = 0.99

    def condition_settings(self, condition: str) -> Dict[str, object]:
        """What makes `condition` from the budget (the moving average is set in every condition: off
        in the three of the original, whatever the budget's config says; the oracle is supervised)."""
        return {"no_split": {"split.split_at": (), "train.ema_decay": 0.0}, "split": {"train.ema_decay": 0.0},
                "oracle": {"split.split_at": (), "split.unsupervised": False, "data.builtin_labels": "colour_and_kind",
                           "train.ema_decay": 0.0},
                "split_ema": {"train.ema_decay": self.ema_decay}}[condition]

    def run_settings(self, seed: int, run_dir: str) -> Dict[str, object]:
        """What differs between the runs of one condition, and the evaluation every run does."""
        return {"train.seed": seed, "output.run_dir": run_dir, "eval.every": self.eval_every,
                "eval.metrics": (QUALITY, metric_names.BUILTIN_FID.name(self.fid_samples))}

    def layers(self, condition: str, seed: int, run_dir: str) -> config_lib.Overrides:
        """The overrides of one run, lowest precedence first: the budget's config file, its --set
        overrides, the condition's settings, the run's."""
        layers = [("config file %s" % self.config_file, config_lib.read_json(self.config_file))]
        if self.overrides:
            layers.append(("--set", flags.set_overrides(list(self.overrides))))
        return layers + [("the ablation's %s condition" % condition, self.condition_settings(condition)),
                         ("the ablation's run settings", self.run_settings(seed, run_dir))]

    def resolved(self) -> config_lib.Config:
        """The split condition's configuration, checked: a built-in run labelled by colour (or unsupervised)
        with a split."""
        cfg = config_lib.resolve(self.layers("split", 0, "unused"))
        config_checks.validate(cfg)
        if cfg.data.dataset != "builtin" or cfg.data.builtin_labels != "colour":
            raise UserError("the ablation needs a run on the built-in dataset labelled by colour (or unsupervised); "
                            "%s gives dataset %s, labels %s" % (self.config_file, cfg.data.dataset,
                                                                cfg.data.builtin_labels))
        if not cfg.split.split_at:
            raise UserError("the ablation's split condition needs a split schedule: %s has no split.split_at"
                            % self.config_file)
        if cfg.train.iterations % self.eval_every:
            raise UserError("--eval-every %d must divide the budget's %d iterations, so that every run ends with an "
                            "evaluation" % (self.eval_every, cfg.train.iterations))
        return cfg

    def train_argv(self, condition: str, seed: int, run_dir: str) -> List[str]:
        """The train.py command line that makes the same run as `layers` (printed, so that one run
        can be repeated by hand)."""
        argv = ["--config", self.config_file]
        for override in self.overrides:
            argv += ["--set", override]
        for key, value in dict(self.condition_settings(condition), **self.run_settings(seed, run_dir)).items():
            argv += ["--set", "%s=%s" % (key, json.dumps(value))]
        return argv


def read_curves(run_dir: str, keys: Dict[str, str]) -> Dict[str, List[Tuple[int, float]]]:
    """figure -> [(iteration, value)] ascending, from the run's evaluation history."""
    history = rundir.read_evaluations(run_dir)
    return {figure: sorted((entry["iteration"], float(entry[key])) for entry in history if key in entry)
            for figure, key in keys.items()}


def run_one(budget: Budget, condition: str, seed: int, run_dir: str, iterations: int, log=print) -> Dict:
    """Trains (or resumes, or just reads) one run; returns {run_dir, curves: {figure: [(iteration,
    value)]}, final: {figure: its value at the end of the run; FID_SECOND_HALF: the mean},
    seconds: of training in this call (0 when the run was complete already)}."""
    seconds = 0.0
    layers = budget.layers(condition, seed, run_dir)
    resume = rundir.holds_run(run_dir)
    if resume:
        # The run there must be this one: the resume check names any setting that differs.
        config_lib.resolve(layers, rundir.saved_config(run_dir), rundir.config_path(run_dir))
    if not os.path.isdir(os.path.join(run_dir, rundir.EXPORT)):  # a run exports when it completes
        argv = budget.train_argv(condition, seed, run_dir) + (["--resume"] if resume else [])
        log("ablation: %s, seed %d: train.py %s" % (condition, seed, " ".join(shlex.quote(word) for word in argv)))
        started = time.perf_counter()
        try:
            result = session.train(layers, resume=resume)
        except CommandEnd as e:  # bad input, or a run whose numbers went non-finite
            raise type(e)("the ablation's run %s (%s, seed %d): %s; run the ablation again to resume it"
                          % (run_dir, condition, seed, e)) from e
        seconds = time.perf_counter() - started
        if result.interrupted:
            raise UserError("the ablation's run %s (%s, seed %d) was stopped after iteration %d; run the ablation "
                            "again to resume it" % (run_dir, condition, seed, result.iteration))
        tf.keras.backend.clear_session()
    curves = read_curves(run_dir, _metric_keys(budget.fid_samples))
    final = {figure: points[-1][1] for figure, points in curves.items() if points and points[-1][0] == iterations}
    if COLOUR not in final or FID not in final:
        raise UserError("%s: no evaluation after iteration %d in its %s; remove the run dir to train it again"
                        % (run_dir, iterations, rundir.EVALUATIONS_FILE))
    final[FID_SECOND_HALF] = float(np.mean([value for step, value in curves[FID] if step > iterations / 2]))
    final[GROUPS_ARI] = groups_ari(run_dir)
    return {"run_dir": run_dir, "curves": curves, "final": final, "seconds": seconds}


def groups_ari(run_dir: str) -> float:
    """The adjusted Rand index of the training images' classes at the run's last checkpoint against the hidden
    groups (colour x kind) of its built-in dataset."""
    cfg = rundir.read_config(run_dir)
    labels = checkpoints.read_example_labels(checkpoints.latest(rundir.path(cfg, rundir.CHECKPOINTS)))
    truth = {recovery.GROUPS: datasets.appearance(cfg).groups()}
    return recovery.partition_scores(labels, truth)[recovery.GROUPS]["ari"]


def summarise(runs: Sequence[Dict]) -> Dict[str, Dict[str, float]]:
    """figure -> {mean, std (population), n} of the runs' final figures (those they have)."""
    summary = {}
    for figure in FIGURES:
        values = [r["final"][figure] for r in runs if figure in r["final"]]
        if values:
            summary[figure] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
    return summary


def run_ablation(budget: Budget, seeds: Sequence[int], out_dir: str, conditions: Sequence[str] = CONDITIONS,
                 log=print) -> Dict:
    """Every condition for every seed; returns the results that report.py writes."""
    if len(set(seeds)) != len(seeds) or not seeds:
        raise UserError("--seeds must list distinct seeds, got %s" % list(seeds))
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown or not conditions or len(set(conditions)) != len(conditions):
        raise UserError("--conditions must list distinct conditions of %s, got %s" % (", ".join(CONDITIONS),
                                                                                     list(conditions)))
    if not 0 < budget.ema_decay < 1:
        raise UserError("--ema-decay must lie in (0, 1), got %g" % budget.ema_decay)
    cfg = budget.resolved()
    results = {"budget": {"config": budget.config_file, "overrides": list(budget.overrides),
                          "iterations": cfg.train.iterations, "split_at": list(cfg.split.split_at),
                          "eval_every": budget.eval_every, "quality": QUALITY,
                          "fid": metric_names.BUILTIN_FID.name(budget.fid_samples), "ema_decay": budget.ema_decay},
               "seeds": list(seeds), "conditions": {}}
    for condition in conditions:
        runs = [run_one(budget, condition, seed, os.path.join(out_dir, condition, "seed%d" % seed),
                        cfg.train.iterations, log) for seed in seeds]
        results["conditions"][condition] = {"runs": runs, "final": summarise(runs)}
    return results
