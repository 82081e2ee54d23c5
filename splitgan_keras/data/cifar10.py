"""CIFAR-10 python batches, from the extracted folder or straight from cifar-10-python.tar.gz.

Nothing is downloaded: a missing file is an error that says where to get it. The batches are
pickles, read by safe_pickle: a file that names anything but plain data is refused unrun.
"""
from __future__ import annotations

import os
import tarfile
from typing import BinaryIO, Tuple

import numpy as np

from splitgan_keras.data import safe_pickle
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError

BATCH_FILES = tuple("data_batch_%d" % i for i in range(1, 6))
TEST_FILES = ("test_batch",)
ARCHIVE_NAME = "cifar-10-python.tar.gz"
ARCHIVE_FOLDER = "cifar-10-batches-py"
NUM_CLASSES = 10
_WHERE = "download %s from https://www.cs.toronto.edu/~kriz/cifar.html" % ARCHIVE_NAME


def load(path: str, test: bool = False) -> ImageData:
    """Loads the 5 training batches in file order (the original's data-set order), or the test batch.

    Args:
      path: the .tar.gz archive, the folder it extracts to (cifar-10-batches-py), or a folder that
        holds either of them.
      test: the test split instead.

    Returns:
      ImageData with images uint8 [N, 32, 32, 3] and labels int32 [N] (N = 50000 for the real
      training set, 10000 for its test split).
    """
    found = locate(path)
    names = TEST_FILES if test else BATCH_FILES
    if os.path.isdir(found):
        for name in names:
            if not os.path.isfile(os.path.join(found, name)):
                raise UserError("CIFAR-10 batch %s is missing (the test split); %s"
                                % (os.path.join(found, name), _WHERE))
        parts = [_read_file(os.path.join(found, name)) for name in names]
    else:
        parts = _read_archive(found, names)
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageData(images, labels, NUM_CLASSES, "CIFAR-10%s at %s (%d images)"
                     % (" test split" if test else "", found, len(images)))


def locate(path: str) -> str:
    """What `load(path)` reads: the folder with the batches, or the archive. Checks that it is
    there (and, for a folder, that every batch is), without reading it."""
    if not os.path.exists(path):
        raise UserError("--data-dir %s does not exist; %s and pass the file or its extracted folder"
                        % (path, _WHERE))
    if not os.path.isdir(path):
        return path
    if os.path.isdir(os.path.join(path, ARCHIVE_FOLDER)):
        return locate(os.path.join(path, ARCHIVE_FOLDER))
    if not os.path.exists(os.path.join(path, BATCH_FILES[0])) and os.path.isfile(os.path.join(path, ARCHIVE_NAME)):
        return os.path.join(path, ARCHIVE_NAME)
    for name in BATCH_FILES:
        if not os.path.isfile(os.path.join(path, name)):
            raise UserError("CIFAR-10 batch %s is missing (expected %s); %s"
                            % (os.path.join(path, name), ", ".join(BATCH_FILES), _WHERE))
    return path


def _read_file(filename: str) -> Tuple[np.ndarray, np.ndarray]:
    with open(filename, "rb") as f:
        return _parse_batch(f, filename)


def _read_archive(filename: str, names: Tuple[str, ...]):
    try:
        with tarfile.open(filename, "r:*") as archive:
            parts = []
            for name in names:
                member = "%s/%s" % (ARCHIVE_FOLDER, name)
                try:
                    f = archive.extractfile(member)
                except KeyError:
                    f = None
                if f is None:
                    raise UserError("%s does not contain %s; is it %s?" % (filename, member, ARCHIVE_NAME))
                parts.append(_parse_batch(f, "%s:%s" % (filename, member)))
            return parts
    except (tarfile.TarError, EOFError, OSError) as e:  # tarfile's message lists every method it tried
        raise UserError("cannot read %s as a .tar.gz archive (%s: %s); %s"
                        % (filename, type(e).__name__, str(e).splitlines()[0].rstrip(":"), _WHERE))


def _parse_batch(f: BinaryIO, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """Returns images uint8 [n, 32, 32, 3] and labels int32 [n] of one pickled batch."""
    batch = safe_pickle.load(f, where, "a CIFAR-10 python batch")  # downloaded: nothing it names is called
    if not isinstance(batch, dict):
        raise UserError("%s is not a CIFAR-10 python batch (a pickled %s, expected a dict)"
                        % (where, type(batch).__name__))
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise UserError("%s is not a CIFAR-10 python batch (keys %s, expected 'data' and 'labels')"
                        % (where, sorted(batch)))
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError("%s: 'data' must be a uint8 array [n, 3072] (3x32x32, channel-major), got %s %s"
                        % (where, getattr(data, "dtype", type(data).__name__), list(np.shape(data))))
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise UserError("%s: 'labels' must be %d integers, got %s of shape %s"
                        % (where, len(data), labels.dtype, list(labels.shape)))
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise UserError("%s: labels must lie in 0..%d, found %d..%d"
                        % (where, NUM_CLASSES - 1, labels.min(), labels.max()))
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)
