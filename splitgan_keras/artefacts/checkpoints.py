"""Training checkpoints: everything needed to continue a run exactly.

A checkpoint holds both networks (with the class tree and class count), both optimizers with
their slots and step counts, the completed-iteration counter, the label of every training
example and the random generator's state, plus the dynamic loss scales when there are any. The
optimizers are stored unwrapped and the loss scales apart, so a run may resume on another device
or precision. The data order needs no state: it is a function of the seed and the iteration
(see pipeline.py).
"""
from __future__ import annotations

import glob
import json
import math
import os
import shutil
import tempfile
from typing import Callable, List, Optional, TypeVar

import numpy as np
import tensorflow as tf

from splitgan_keras import faults, files
from splitgan_keras.errors import UserError
from splitgan_keras.models import optimizers

PREFIX = "ckpt"
_LABELS_KEY = "example_labels/.ATTRIBUTES/VARIABLE_VALUE"
_ITERATION_KEY = "iteration/.ATTRIBUTES/VARIABLE_VALUE"
# Checkpoints written before the class state stored its parents (splitgan-keras 0.1) hold the tree here.
_VERSION_0_1_TREE_KEY = "generator/class_tree/.ATTRIBUTES/VARIABLE_VALUE"
T = TypeVar("T")


def check_format(path: str) -> None:
    """Raises UserError for a checkpoint of an earlier, incompatible layout, naming the version."""
    try:
        keys = {name for name, _ in tf.train.list_variables(path)}
    except (ValueError, tf.errors.OpError):
        return  # unreadable: the restore itself reports it
    if _VERSION_0_1_TREE_KEY in keys:
        raise UserError("checkpoint %s was written by splitgan-keras 0.1, whose class state had no stored parents; "
                        "this is 0.2: finish that run with 0.1 (git tag v0.1.0), or start a new run" % path)


def read_example_labels(path: str) -> np.ndarray:
    """int32 [N]: the class of every training example stored in a training checkpoint."""
    return tf.train.load_checkpoint(path).get_tensor(_LABELS_KEY)


def read_iteration(path: str) -> int:
    """The completed iterations stored in a training checkpoint."""
    return int(tf.train.load_checkpoint(path).get_tensor(_ITERATION_KEY))


def newest_usable(paths: List[str], use: Callable[[str], T], report: Callable[[str], None]) -> T:
    """use(path) for the newest of `paths` (oldest first) that it accepts: a checkpoint torn by a
    crash or a full disk raises UserError, is reported, and the one before it is tried."""
    for path in reversed(paths[1:]):
        try:
            return use(path)
        except UserError as e:
            report("checkpoint %s cannot be used (%s); trying the one before" % (path, e))
    return use(paths[0])


def durable(path: str) -> None:
    """Flushes checkpoint `path` (its index and data files) and its folder's checkpoint state file
    to disk: TensorFlow writes them without fsync."""
    state = os.path.join(os.path.dirname(path), "checkpoint")
    files.sync_files(glob.glob(glob.escape(path) + ".*") + ([state] if os.path.isfile(state) else []))


class TrainingCheckpoints:
    """A CheckpointManager over a SplitGAN; checkpoint numbers are completed iterations.

    With `writes` off (a process of several that is not the chief) it restores from `directory`
    but saves into a scratch folder of its own, removed by `close`: every process must take part
    in every save, since MultiWorkerMirroredStrategy synchronises them.
    """

    def __init__(self, directory: str, gan, keep: int, writes: bool = True):
        self.gan, self.writes, self.directory = gan, writes, directory
        self.scratch = None if writes else tempfile.mkdtemp(prefix="splitgan-replica-checkpoints-")
        self.current: Optional[int] = None  # the checkpoint number that holds the state now, if any
        self.core = dict(
            generator=gan.generator, critic=gan.critic,
            g_optimizer=optimizers.unwrap(gan.g_optimizer), d_optimizer=optimizers.unwrap(gan.d_optimizer),
            iteration=gan.iteration, example_labels=gan.example_labels)
        if gan.ema_generator is not None:
            self.core["ema_generator"] = gan.ema_generator
        scales = (("g_loss_scale", optimizers.loss_scale_state(gan.g_optimizer)),
                  ("d_loss_scale", optimizers.loss_scale_state(gan.d_optimizer)))
        self.loss_scales = {name: state for name, state in scales if state is not None}
        self.checkpoint = tf.train.Checkpoint(**self.core, **self.loss_scales)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.writable(directory), max_to_keep=keep,
                                                  checkpoint_name=PREFIX)

    def writable(self, directory: str) -> str:
        """Where this process writes what belongs in `directory` (a folder of the run dir)."""
        return directory if self.writes else os.path.join(self.scratch, os.path.basename(directory))

    def close(self) -> None:
        """Removes the scratch folder of a process that does not write the run dir."""
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def save(self) -> str:
        """Saves the current state as ckpt-<completed iterations>, on disk when this returns, unless
        this object saved or restored that very state already; returns the checkpoint's path in
        the run dir. (A checkpoint of the same number that some other run left is replaced.)"""
        number = int(self.gan.iteration.numpy())
        in_run_dir = os.path.join(self.directory, "%s-%d" % (PREFIX, number))
        if self.current == number:
            return in_run_dir
        written = self.manager.save(checkpoint_number=number)
        faults.point("checkpoint.written")
        durable(written)
        self.current = number
        return in_run_dir

    @property
    def latest(self) -> Optional[str]:
        """The newest checkpoint in the run dir (None: none yet)."""
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest_good(self, report: Callable[[str], None]) -> Optional[str]:
        """Restores the newest checkpoint that reads back completely; returns its path (None: none).

        A checkpoint torn by a crash or a full disk is reported and skipped; TensorFlow's leftover
        `<prefix>_temp` folders of interrupted writes are removed.
        """
        if self.writes:
            for leftover in glob.glob(os.path.join(self.directory, "*_temp")):
                shutil.rmtree(leftover, ignore_errors=True)
        state = tf.train.get_checkpoint_state(self.directory)
        paths = list(state.all_model_checkpoint_paths) if state else []
        if not paths:
            return None

        def restored(path: str) -> str:
            self.restore(path)
            self.current = int(self.gan.iteration.numpy())
            return path

        try:
            return newest_usable(paths, restored, report)
        except UserError as e:
            raise UserError("no checkpoint in %s can be restored: %s" % (self.directory, e))

    def restore(self, path: str) -> None:
        """Restores every tracked object from `path`; all but the loss scales must be in it (a run
        that had none starts its loss scales afresh)."""
        check_format(path)
        try:
            tf.train.Checkpoint(**self.core).restore(path).assert_existing_objects_matched()
            if self.loss_scales:
                tf.train.Checkpoint(**self.loss_scales).restore(path).expect_partial()
        except Exception as e:  # torn files surface as OpError, ValueError, IndexError, AssertionError...
            raise UserError("checkpoint %s cannot be restored into this model: %s"
                            % (path, (str(e).splitlines() or [type(e).__name__])[0]))


class BestCheckpoint:
    """Keeps the checkpoint with the highest value of a metric (the original: Inception Score) in
    its own folder, with best.json naming the metric, its value and the iteration."""

    RECORD = "best.json"

    def __init__(self, store: TrainingCheckpoints, directory: str, metric: str):
        self.metric = metric
        directory = store.writable(directory)
        self.manager = tf.train.CheckpointManager(store.checkpoint, directory, max_to_keep=1, checkpoint_name=PREFIX)
        self.record = os.path.join(directory, self.RECORD)
        self.best = -math.inf
        if os.path.isfile(self.record):
            self.best = self._read_best()

    def _read_best(self) -> float:
        try:
            with open(self.record) as f:
                value = json.load(f)["value"]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return float(value)
            problem = "its value %r is not a finite number" % (value,)
        except (OSError, ValueError, RecursionError, TypeError, KeyError) as e:
            problem = "%s: %s" % (type(e).__name__, e)
        raise UserError("cannot read the best checkpoint's record %s (%s); it is written only by training: restore it, "
                        "or remove it and the checkpoints beside it to start the best-checkpoint search afresh"
                        % (self.record, problem))

    def offer(self, value: float, completed: int) -> bool:
        """Saves the current state if `value` beats the best so far; returns whether it did."""
        if not value > self.best:
            return False
        path = self.manager.save(checkpoint_number=completed)
        durable(path)
        files.write_json(self.record, {"metric": self.metric, "value": value, "iteration": completed,
                                       "checkpoint": os.path.basename(path)})
        self.best = value
        return True
