"""The run directory: its layout, whether it can take a new run, the run's config.json and its
evaluation history.

    <run_dir>/config.json     the resolved configuration (written before training starts)
    <run_dir>/checkpoints/    tf.train.CheckpointManager checkpoints (ckpt-<iteration>)
    <run_dir>/samples/        per-class sample grids (PNG)
    <run_dir>/logs/           TensorBoard event files
    <run_dir>/evaluations.json  every evaluation during training: [{"iteration": N, <metric>: value, ...,
                                "protocols": {<metric>: what it was computed on}}]
    <run_dir>/splits/         one record per class split (labels, tree, hierarchy, real images per class)
    <run_dir>/export/         the exported generator (SavedModel)
    <run_dir>/.lock           held by the run that writes it (rundir_lock.py)
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from splitgan_keras import config as config_lib, files, json_input
from splitgan_keras.artefacts.rundir_lock import LOCK_FILE
from splitgan_keras.errors import UserError

CONFIG_FILE = "config.json"
EVALUATIONS_FILE = "evaluations.json"
CHECKPOINTS, SAMPLES, LOGS, SPLITS, EXPORT = "checkpoints", "samples", "logs", "splits", "export"


def path(cfg: config_lib.Config, *parts: str) -> str:
    return os.path.join(cfg.output.run_dir, *parts)


def holds_run(run_dir: str) -> bool:
    return os.path.exists(os.path.join(run_dir, CONFIG_FILE)) or os.path.isdir(os.path.join(run_dir, CHECKPOINTS))


def check_not_a_file(run_dir: str) -> None:
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError("--run-dir %s is a file, not a folder; choose another --run-dir" % run_dir)


def check_fresh(run_dir: str) -> None:
    """Raises UserError unless `run_dir` can take a new run: new, or empty but for its lock. A
    folder of the user's is never taken over (a new run replaces export/ and samples/)."""
    check_not_a_file(run_dir)
    if holds_run(run_dir):
        raise UserError("--run-dir %s already holds a run; add --resume to continue it, or choose "
                        "another --run-dir" % run_dir)
    others = sorted(set(os.listdir(run_dir)) - {LOCK_FILE}) if os.path.isdir(run_dir) else []
    if others:
        raise UserError("--run-dir %s is not empty and holds no run (it has %s%s); a new run needs a new or empty "
                        "folder: choose another --run-dir" % (run_dir, ", ".join(others[:5]),
                                                              ", ..." if len(others) > 5 else ""))


def check_intact(run_dir: str) -> None:
    """Raises UserError when the run dir lost its config.json or its lock while a training wrote
    it (removed or replaced by someone else): the run stops instead of writing a checkpoint into a
    folder that neither resumes nor evaluates."""
    lost = [name for name in (CONFIG_FILE, LOCK_FILE) if not os.path.isfile(os.path.join(run_dir, name))]
    if lost:
        raise UserError("--run-dir %s lost its %s while this training ran (removed or replaced from outside); stopped "
                        "without writing into it again: what was there cannot be resumed, start a new run"
                        % (run_dir, " and ".join(lost)))


def config_path(run_dir: str) -> str:
    return os.path.join(run_dir, CONFIG_FILE)


def read_config(run_dir: str) -> config_lib.Config:
    filename = config_path(run_dir)
    nested = json_input.read(filename, "the run's configuration")
    if not isinstance(nested, dict):
        raise UserError("the run's configuration %s must hold a JSON object of sections, not a %s"
                        % (filename, type(nested).__name__))
    return config_lib.from_dict(nested, filename)


def saved_config(run_dir: str) -> config_lib.Config:
    """The configuration of the run that `run_dir` holds, for --resume (config.resolve applies the
    command line to it)."""
    check_not_a_file(run_dir)
    if not holds_run(run_dir):
        raise UserError("--resume: --run-dir %s holds no run to continue (no %s)" % (run_dir, CONFIG_FILE))
    return read_config(run_dir)


def write_config(cfg: config_lib.Config) -> None:
    files.write_json(path(cfg, CONFIG_FILE), config_lib.to_dict(cfg))


def read_evaluations(run_dir: str) -> List[Dict[str, Any]]:
    """The run's evaluation history, oldest first ([] before its first evaluation)."""
    filename = os.path.join(run_dir, EVALUATIONS_FILE)
    if not os.path.exists(filename):
        return []
    history = json_input.read(filename, "the run's evaluations")
    if not isinstance(history, list) or not all(isinstance(entry, dict) and isinstance(entry.get("iteration"), int)
                                                for entry in history):
        raise UserError("the run's evaluations %s must be a list of objects with an iteration; it is written only "
                        "by training" % filename)
    return history


def write_evaluations(cfg: config_lib.Config, history: List[Dict[str, Any]]) -> None:
    files.write_json(path(cfg, EVALUATIONS_FILE), history)
