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
import math
import os
import re
import shutil
import stat
import tempfile
from typing import Callable, List, Optional, Tuple, TypeVar

import numpy as np
import tensorflow as tf

from splitgan_keras import faults, files, json_input
from splitgan_keras.errors import UserError, shown
from splitgan_keras.models import optimizers

PREFIX = "ckpt"
_LABELS_KEY = "example_labels/.ATTRIBUTES/VARIABLE_VALUE"
_ITERATION_KEY = "iteration/.ATTRIBUTES/VARIABLE_VALUE"
# Checkpoints written before the class state stored its parents (splitgan-keras 0.1) hold the tree here.
_VERSION_0_1_TREE_KEY = "generator/class_tree/.ATTRIBUTES/VARIABLE_VALUE"
# TensorFlow's CheckpointManager keeps a state file beside the checkpoints that lists them, and deletes
# the oldest it lists as it saves new ones. The file is in a folder others may write: see `listed`.
STATE_FILE = "checkpoint"
_MAX_STATE_BYTES = 1 << 20  # a state file lists at most a few hundred checkpoints
T = TypeVar("T")


def _read_state(directory: str) -> Tuple[Optional[object], List[str]]:
    """The state file of `directory` and what in it names something outside `directory`.

    Returns:
      (state with only the checkpoints directly in `directory` named ckpt-N, in its order and as
      absolute paths; None when there is no usable state file), and the entries dropped.
    """
    # Absolute: TensorFlow joins a relative entry to the folder as given, and a relative folder (a run dir named
    # relative to the working directory) would then be joined twice in _inside and every entry look outside.
    directory = os.path.abspath(directory)
    path = os.path.join(directory, STATE_FILE)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, []
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_STATE_BYTES:
        return None, ["%s (not a regular file of at most %d bytes)" % (path, _MAX_STATE_BYTES)]
    try:
        state = tf.train.get_checkpoint_state(directory)  # TF's own parser; relative paths made absolute
    except ValueError:  # parsed, but names no newest checkpoint
        state = None
    if state is None:
        return None, ["%s (not a state file TensorFlow can read)" % path]
    kept, dropped, timestamps = [], [], list(state.all_model_checkpoint_timestamps)
    for i, entry in enumerate(state.all_model_checkpoint_paths):
        if _inside(directory, entry):
            kept.append((os.path.join(directory, os.path.basename(entry)),
                         timestamps[i] if i < len(timestamps) else None))
        else:
            dropped.append(shown(entry))
    latest = state.model_checkpoint_path
    if not _inside(directory, latest):
        dropped.append(shown(latest))
    if not kept:
        return None, sorted(set(dropped))
    clean = tf.compat.v1.train.generate_checkpoint_state_proto(
        directory, kept[-1][0], [p for p, _ in kept],
        all_model_checkpoint_timestamps=[t for _, t in kept] if all(t is not None for _, t in kept) else None,
        last_preserved_timestamp=state.last_preserved_timestamp)
    return clean, sorted(set(dropped))


def _inside(directory: str, entry: str) -> bool:
    """Whether a state file's entry names ckpt-N directly in `directory` (links resolved)."""
    name = os.path.basename(entry)
    if not re.fullmatch(re.escape(PREFIX) + r"-[0-9]{1,12}", name):
        return False
    resolved = os.path.realpath(os.path.join(directory, entry))
    return resolved == os.path.join(os.path.realpath(directory), name)


def listed(directory: str) -> List[str]:
    """The checkpoints the state file of `directory` lists, oldest first, as paths in `directory`;
    entries that name anything outside it are left out (see `confine_state`)."""
    state, _ = _read_state(directory)
    return list(state.all_model_checkpoint_paths) if state else []


def latest(directory: str) -> Optional[str]:
    """The newest checkpoint listed in `directory` (None: none)."""
    paths = listed(directory)
    return paths[-1] if paths else None


def confine_state(directory: str, report: Callable[[str], None]) -> None:
    """Rewrites the state file of `directory` without the entries that name anything outside it,
    before a CheckpointManager reads it: the manager deletes the old checkpoints its state file
    lists, wherever they are. Reports what was dropped."""
    state, dropped = _read_state(directory)
    if not dropped:
        return
    report("%s listed %s, outside %s or not a checkpoint of a run; left out (nothing there was touched)"
           % (os.path.join(directory, STATE_FILE), ", ".join(dropped[:3]) + (" ..." if len(dropped) > 3 else ""),
              directory))
    path = os.path.join(directory, STATE_FILE)
    if os.path.isdir(path) and not os.path.islink(path):
        raise UserError("%s is a folder where TensorFlow keeps its list of checkpoints; remove it" % path)
    if state is None:
        os.remove(path)
    else:
        files.write_bytes(path, str(state).encode())


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

    def __init__(self, directory: str, gan, keep: int, writes: bool = True,
                 report: Callable[[str], None] = print, check_run_dir: Callable[[], None] = lambda: None):
        self.gan, self.writes, self.directory = gan, writes, directory
        self.check_run_dir = check_run_dir  # raises UserError when the run dir is no longer ours
        if writes:
            confine_state(directory, report)
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
        if self.writes:
            self.check_run_dir()
        written = self.manager.save(checkpoint_number=number)
        faults.point("checkpoint.written")
        durable(written)
        self.current = number
        return in_run_dir

    @property
    def latest(self) -> Optional[str]:
        """The newest checkpoint in the run dir (None: none yet)."""
        return latest(self.directory)

    def restore_latest_good(self, report: Callable[[str], None]) -> Optional[str]:
        """Restores the newest checkpoint that reads back completely; returns its path (None: none).

        A checkpoint torn by a crash or a full disk is reported and skipped; TensorFlow's leftover
        `<prefix>_temp` folders of interrupted writes are removed.
        """
        if self.writes:
            for leftover in glob.glob(os.path.join(self.directory, "*_temp")):
                shutil.rmtree(leftover, ignore_errors=True)
        paths = listed(self.directory)
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
        except (tf.errors.OpError, ValueError, IndexError, AssertionError) as e:  # how torn or foreign files fail
            raise UserError("checkpoint %s cannot be restored into this model: %s"
                            % (path, (str(e).splitlines() or [type(e).__name__])[0]))


class BestCheckpoint:
    """Keeps the checkpoint with the highest value of a metric (the original: Inception Score) in
    its own folder, with best.json naming the metric, its value and the iteration."""

    RECORD = "best.json"

    def __init__(self, store: TrainingCheckpoints, directory: str, metric: str, report: Callable[[str], None] = print):
        self.metric = metric
        directory = store.writable(directory)
        confine_state(directory, report)
        self.manager = tf.train.CheckpointManager(store.checkpoint, directory, max_to_keep=1, checkpoint_name=PREFIX)
        self.record = os.path.join(directory, self.RECORD)
        self.best = -math.inf
        if os.path.isfile(self.record):
            self.best = self._read_best()

    def _read_best(self) -> float:
        record = json_input.read(self.record, "the best checkpoint's record")
        value = record.get("value") if isinstance(record, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        problem = "its value %s is not a finite number" % shown(value)
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
