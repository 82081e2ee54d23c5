"""One training session as train.py runs it, from the overrides a caller asks for: the run dir's
lock, the choice between a fresh start and a resume, the checks, the data, then the run. The
command line (cli.main_train) and the experiments (experiments/ablation.py) start runs here.
"""
from __future__ import annotations

from typing import Optional

from splitgan_keras import config as config_lib, config_checks, launch
from splitgan_keras.artefacts import rundir
from splitgan_keras.artefacts.rundir_lock import RunDirLock
from splitgan_keras.data import datasets
from splitgan_keras.data.image_data import ImageData


def resolve(requested: config_lib.Overrides, resume: bool, lock: Optional[RunDirLock]) -> config_lib.Config:
    """The checked configuration of the run `requested` asks for.

    Args:
      requested: the overrides, lowest precedence first (cli.overrides, or an experiment's own).
      resume: continue the run in the run dir (its config.json, changed only where allowed).
      lock: the run dir's lock when this process writes the run dir: taken here, before the
        choice between a fresh start and a resume, and a fresh start then needs a fresh folder.
        None for a dry run, a parity record, or a process that waits for its rank (launch.waits_for_rank:
        only the runtime can say whether it is the chief; it claims the run dir later, in `start`).
    """
    run_dir = config_lib.run_dir_of(requested)
    if lock is not None:
        lock.acquire()
    saved = None
    if resume:
        saved = rundir.saved_config(run_dir)
    elif lock is not None:
        rundir.check_fresh(run_dir)
    else:
        rundir.check_not_a_file(run_dir)
    cfg = config_lib.resolve(requested, saved, rundir.config_path(run_dir))
    config_checks.validate(cfg)
    datasets.check_metrics(cfg)
    return cfg


def start(cfg: config_lib.Config, lock: RunDirLock, resume: bool = False, stop_at: Optional[int] = None,
          init_from_tf1: Optional[str] = None, data: Optional[ImageData] = None):
    """Trains the run `cfg` describes (resolved by `resolve`); returns its run.Result.

    The data is loaded first, so that the common input errors fail before TensorFlow starts.
    If the caller has not taken `lock` (the process waits for its rank) and the runtime finds
    that this process is the chief after all, it takes the lock then and checks the run dir.
    """
    data = data if data is not None else datasets.load(cfg)
    from splitgan_keras.train import run as run_lib  # TensorFlow starts here

    def claim_run_dir() -> None:
        lock.acquire()
        if not resume:
            rundir.check_fresh(cfg.output.run_dir)

    return run_lib.run(cfg, data, resume=resume, stop_at=stop_at, init_from_tf1=init_from_tf1,
                       claim_run_dir=None if lock.held else claim_run_dir)


def train(requested: config_lib.Overrides, resume: bool = False, stop_at: Optional[int] = None,
          init_from_tf1: Optional[str] = None):
    """`resolve` and `start` under the run dir's lock, as train.py does; returns the run.Result.

    Raises:
      UserError, NonFiniteError: as train.py's one-line errors.
    """
    waits = launch.waits_for_rank()
    lock = RunDirLock(config_lib.run_dir_of(requested))
    try:
        cfg = resolve(requested, resume, None if waits else lock)
        return start(cfg, lock, resume, stop_at, init_from_tf1)
    finally:
        lock.release()
