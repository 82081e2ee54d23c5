"""The run directory: its layout, and the configuration of a new or resumed run.

    <run_dir>/config.json     the resolved configuration (written before training starts)
    <run_dir>/checkpoints/    tf.train.CheckpointManager checkpoints (ckpt-<iteration>)
    <run_dir>/samples/        per-class sample grids (PNG)
    <run_dir>/logs/           TensorBoard event files
    <run_dir>/splits/         one record per class split (labels, tree, hierarchy, real images per class)
    <run_dir>/export/         the exported generator (SavedModel)
    <run_dir>/.lock           held by the run that writes it (rundir_lock.py)
"""
from __future__ import annotations

import json
import os
from typing import Any, List, Mapping, Tuple

from splitgan_keras import config as config_lib, files
from splitgan_keras.artefacts.rundir_lock import LOCK_FILE
from splitgan_keras.errors import UserError

CONFIG_FILE = "config.json"
CHECKPOINTS, SAMPLES, LOGS, SPLITS, EXPORT = "checkpoints", "samples", "logs", "splits", "export"

# (source name, {dotted key: value}) in increasing precedence, e.g. a config file then flags.
Overrides = List[Tuple[str, Mapping[str, Any]]]


def path(cfg: config_lib.Config, *parts: str) -> str:
    return os.path.join(cfg.output.run_dir, *parts)


def holds_run(run_dir: str) -> bool:
    return os.path.exists(os.path.join(run_dir, CONFIG_FILE)) or os.path.isdir(os.path.join(run_dir, CHECKPOINTS))


def check_fresh(run_dir: str) -> None:
    """Raises UserError unless `run_dir` can take a new run: new, or empty but for its lock. A
    folder of the user's is never taken over (a new run replaces export/ and samples/)."""
    if holds_run(run_dir):
        raise UserError("--run-dir %s already holds a run; add --resume to continue it, or choose "
                        "another --run-dir" % run_dir)
    others = sorted(set(os.listdir(run_dir)) - {LOCK_FILE}) if os.path.isdir(run_dir) else []
    if others:
        raise UserError("--run-dir %s is not empty and holds no run (it has %s%s); a new run needs a new or empty "
                        "folder: choose another --run-dir" % (run_dir, ", ".join(others[:5]),
                                                              ", ..." if len(others) > 5 else ""))


def run_dir_of(overrides: Overrides) -> str:
    run_dir = config_lib.OutputConfig().run_dir
    for _, values in overrides:
        run_dir = values.get("output.run_dir", run_dir)
    return run_dir


def read_config(run_dir: str) -> config_lib.Config:
    filename = os.path.join(run_dir, CONFIG_FILE)
    try:
        with open(filename) as f:
            nested = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise UserError("cannot read the run's configuration %s: %s" % (filename, e))
    if not isinstance(nested, dict):
        raise UserError("the run's configuration %s must hold a JSON object of sections, not a %s"
                        % (filename, type(nested).__name__))
    return config_lib.from_dict(nested, filename)


def resolve(overrides: Overrides, resume: bool, fresh_dir: bool = True) -> config_lib.Config:
    """The configuration of the run to start or continue.

    A new run applies the overrides to the defaults and, with `fresh_dir`, needs a new or empty
    run dir (check_fresh). A resumed run starts from the run dir's config.json; overrides may change only
    the sections in config.RESUMABLE_SECTIONS, and any other key must repeat the saved value.
    """
    run_dir = run_dir_of(overrides)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError("--run-dir %s is a file, not a folder; choose another --run-dir" % run_dir)
    if not resume:
        cfg = config_lib.Config()
        for source, values in overrides:
            cfg = config_lib.with_overrides(cfg, values, source)
        if fresh_dir:
            check_fresh(run_dir)
        return cfg
    if not holds_run(run_dir):
        raise UserError("--resume: --run-dir %s holds no run to continue (no %s)" % (run_dir, CONFIG_FILE))
    saved = read_config(run_dir)
    # What the layers ask for together (a later layer wins, e.g. --set over the config file), and
    # for each key the layer that has the last word.
    requested, last_word = saved, {}
    for source, values in overrides:
        requested = config_lib.with_overrides(requested, values, source)
        last_word.update((key, source) for key in values)
    cfg = saved
    for key, source in last_word.items():
        section, name = key.split(".")
        new, old = getattr(getattr(requested, section), name), getattr(getattr(saved, section), name)
        if section in config_lib.RESUMABLE_SECTIONS:
            cfg = config_lib.with_overrides(cfg, {key: new}, source)
        elif new != old:
            raise UserError(
                "%s is %r in %s, but the run in %s was made with %r (%s); a resumed run keeps its "
                "configuration except %s. Leave it out, or start a new --run-dir"
                % (config_lib.describe(key), new, source, run_dir, old, os.path.join(run_dir, CONFIG_FILE),
                   ", ".join(s + ".*" for s in config_lib.RESUMABLE_SECTIONS)))
    return cfg


def write_config(cfg: config_lib.Config) -> None:
    files.write_json(path(cfg, CONFIG_FILE), config_lib.to_dict(cfg))
