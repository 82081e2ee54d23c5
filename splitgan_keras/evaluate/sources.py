"""What eval.py can evaluate: a run dir, one of its checkpoints, an exported generator, or a
checkpoint of the original TF1 code. Each loads into an image source (sampling.py) and, where
it has them, the Keras generator, the run's configuration and the training labels.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import math
import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import config as config_lib, files
from splitgan_keras.artefacts import checkpoints, export, rundir, sampling, tf1_import
from splitgan_keras.data import datasets
from splitgan_keras.errors import UserError
from splitgan_keras.models import networks

_TF1_INPUT = "Generator.Input/Generator.Input.W"
_TF1_CONV = "Generator.1.Conv1/Generator.1.Conv1.Filters"
_CHOICES = 5  # times the newest checkpoint is chosen again while a training replaces them


@dataclasses.dataclass
class Loaded:
    source: sampling.SampleSource                   # sampling.GeneratorSource or ExportedSource
    description: str
    record: Dict[str, object]                       # what it is, for protocols: {"checkpoint": path, "iteration": N}
    generator: Optional[networks.Generator] = None  # the Keras model (not for an export)
    cfg: Optional[config_lib.Config] = None         # the run's configuration (run dir or its checkpoints)
    example_labels: Optional[np.ndarray] = None     # every training example's class at that checkpoint


class ExportedSource(sampling.SampleSource):
    """Images from an exported SavedModel, through its serving signature only."""

    def __init__(self, path: str):
        try:
            model = tf.saved_model.load(path)
        except (OSError, ValueError, tf.errors.OpError) as e:  # a torn or foreign saved_model.pb, missing variables
            raise UserError("cannot load the SavedModel in %s (%s: %s); export it again with eval.py CHECKPOINT "
                            "--export-to DIR" % (path, type(e).__name__, str(e).strip().splitlines()[0]))
        if export.SIGNATURE not in model.signatures or export.HIERARCHY_SIGNATURE not in model.signatures:
            raise UserError("%s is a SavedModel but not an exported generator of this project (signatures %s)"
                            % (path, sorted(model.signatures)))
        self._model = model
        self._serve = model.signatures[export.SIGNATURE]
        hierarchy = model.signatures[export.HIERARCHY_SIGNATURE]()
        self._classes = int(hierarchy["num_classes"])
        self._parents = hierarchy["class_parents"].numpy()
        self.image_size = int(self.generate(np.zeros((2, networks.NOISE_DIM), np.float32),
                                            np.zeros(2, np.int32)).shape[1])

    def num_active(self) -> int:
        return self._classes

    def class_parents(self) -> np.ndarray:
        """int32 [num_classes]: the parent of every class, -1 for an initial class."""
        return self._parents

    def generate(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return self._serve(noise=tf.constant(noise, tf.float32), labels=tf.constant(labels, tf.int32))["images"].numpy()


class RealSource(sampling.SampleSource):
    """Real images in the place of samples (eval.py --real): a sample of class c is the next image of
    class c in data-set order, cycling, so every metric scores real images drawn as it draws samples.

    Args:
      data: the images and their classes (data.image_data.ImageData).
    """

    def __init__(self, data):
        self.image_size = data.images.shape[1]
        self._data = data
        self._digest = hashlib.sha256(data.images.tobytes()).hexdigest()
        self._members = [np.flatnonzero(data.labels == c) for c in range(data.num_classes)]
        self._taken = np.zeros(data.num_classes, np.int64)

    def num_active(self) -> int:
        return self._data.num_classes

    def images_digest(self) -> str:
        """SHA-256 of the images, for caches of what was computed on them."""
        return self._digest

    def class_parents(self) -> np.ndarray:
        return np.full(self._data.num_classes, -1, np.int32)

    def generate(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        picks = np.empty(len(labels), np.int64)
        for i, c in enumerate(labels):
            members = self._members[c]
            picks[i] = members[self._taken[c] % len(members)]
            self._taken[c] += 1
        return self._data.images[picks]


def _built_generator(width: int, image_size: int, start_classes: int) -> networks.Generator:
    return networks.Generator(width=width, image_size=image_size, initial_classes=start_classes).build_variables()


def _variable_shapes(checkpoint: str) -> dict:
    """{variable name: shape} of a checkpoint; a clear error when it cannot be read."""
    try:
        return dict(tf.train.list_variables(checkpoint))
    except (ValueError, tf.errors.OpError) as e:
        raise UserError("checkpoint %s cannot be read, it is torn or corrupt (%s)"
                        % (checkpoint, str(e).strip().splitlines()[0]))


def _from_run_checkpoint(run_dir: str, checkpoint: str) -> Loaded:
    """A checkpoint of a run; a checkpoint that a training removed while it was read says so."""
    try:
        return _read_run_checkpoint(run_dir, checkpoint)
    except UserError:
        if os.path.exists(checkpoint + ".index"):
            raise
        raise UserError("checkpoint %s was removed while it was read (a training that writes %s keeps only its newest "
                        "checkpoints, --keep-checkpoints); run the same command again" % (checkpoint, run_dir)) from None


def _read_run_checkpoint(run_dir: str, checkpoint: str) -> Loaded:
    cfg = rundir.read_config(run_dir)
    _variable_shapes(checkpoint)  # a torn file is not a configuration mismatch
    checkpoints.check_format(checkpoint)
    generator = _built_generator(cfg.model.width, cfg.model.image_size, datasets.initial_classes(cfg))
    try:
        # A run with an average of the generator samples from the average, as training does.
        which = "ema_generator" if cfg.train.ema_decay else "generator"
        tf.train.Checkpoint(**{which: generator}).restore(checkpoint).expect_partial().assert_existing_objects_matched()
        labels = checkpoints.read_example_labels(checkpoint)
        iteration = checkpoints.read_iteration(checkpoint)
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError("checkpoint %s does not fit the run's configuration (%s): %s"
                        % (checkpoint, os.path.join(run_dir, rundir.CONFIG_FILE), str(e).splitlines()[0]))
    return Loaded(sampling.GeneratorSource(generator), "checkpoint %s" % checkpoint,
                  {"checkpoint": os.path.abspath(checkpoint), "iteration": iteration,
                   "sha256": _checkpoint_sha256(checkpoint)}, generator, cfg, labels)


def _from_latest_good(run_dir: str) -> Loaded:
    """The run's newest checkpoint that loads; a torn one (a crash, a full disk) is reported and
    the one before it used, as training's --resume does. A training that writes the run dir
    meanwhile may remove the one chosen: then the state file is read again, and the newest taken."""
    directory = os.path.join(run_dir, rundir.CHECKPOINTS)
    paths = checkpoints.listed(directory)
    for attempt in range(_CHOICES):
        present = [path for path in paths if os.path.exists(path + ".index")]
        if not present:
            raise UserError("run dir %s has no checkpoint yet" % run_dir)
        try:
            return checkpoints.newest_usable(present, lambda path: _from_run_checkpoint(run_dir, path),
                                             lambda message: print(message, flush=True))
        except UserError:
            paths, before = checkpoints.listed(directory), paths
            if paths == before or attempt == _CHOICES - 1:  # the checkpoints themselves cannot be used
                raise


def _checkpoint_sha256(prefix: str) -> str:
    """SHA-256 of a checkpoint's files (<prefix>.index, <prefix>.data-*, a TF1 <prefix>.meta), for protocols."""
    return _files_sha256(os.path.dirname(os.path.abspath(prefix)), sorted(glob.glob(glob.escape(prefix) + ".*")))


def _files_sha256(root: str, paths) -> str:
    try:
        return files.content_sha256(paths, root)
    except OSError as e:  # removed meanwhile (a training's retention), or unreadable
        raise UserError("cannot read %s to hash it (%s)" % (e.filename, e.strerror))


def _run_dir_of_checkpoint(checkpoint: str) -> Optional[str]:
    """The run dir holding <run>/checkpoints/ckpt-N or <run>/checkpoints/best/ckpt-N."""
    folder = os.path.dirname(os.path.abspath(checkpoint))
    for candidate in (os.path.dirname(folder), os.path.dirname(os.path.dirname(folder))):
        if os.path.isfile(os.path.join(candidate, rundir.CONFIG_FILE)):
            return candidate
    return None


def _from_tf1(path: str, shapes: dict, start_classes: int) -> Loaded:
    width = shapes[_TF1_CONV][2]
    start = int(round(math.sqrt(shapes[_TF1_INPUT][0] // width)))
    generator = _built_generator(width, 8 * start, start_classes)
    tf1_import.load_tf1_checkpoint(path, generator)
    return Loaded(sampling.GeneratorSource(generator), "TF1 checkpoint %s (width %d, %dx%d)"
                  % (path, width, 8 * start, 8 * start),
                  {"tf1_checkpoint": os.path.abspath(path), "sha256": _checkpoint_sha256(path)}, generator)


def load(path: str, checkpoint: Optional[str] = None, tf1_initial_classes: int = 10) -> Loaded:
    """Loads what `path` is. `checkpoint` picks a checkpoint of a run dir (default: the latest)."""
    if files.restore_retired(path):  # an export replaced by a process killed between its renames
        print("restored %s from the export it was replacing" % path, flush=True)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return Loaded(ExportedSource(path), "exported generator %s" % path,
                      {"export": os.path.abspath(path), "sha256": _files_sha256(path, files.tree_files(path))})
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, rundir.CONFIG_FILE)):
        return _from_run_checkpoint(path, checkpoint) if checkpoint else _from_latest_good(path)
    if os.path.isfile(path + ".index"):
        shapes = _variable_shapes(path)
        if _TF1_INPUT in shapes and _TF1_CONV in shapes:
            return _from_tf1(path, shapes, tf1_initial_classes)
        run_dir = _run_dir_of_checkpoint(path)
        if run_dir is None:
            raise UserError("checkpoint %s is not in a run dir (no config.json two folders up), and not a "
                            "checkpoint of the original TF1 code" % path)
        return _from_run_checkpoint(run_dir, path)
    raise UserError("%s is not a run dir (config.json and checkpoints/), a checkpoint (a prefix with .index), an "
                    "exported generator (a folder with saved_model.pb) or a TF1 checkpoint of the original code"
                    % path)
