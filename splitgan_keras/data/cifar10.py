"""CIFAR-10 python batches, from the extracted folder or straight from cifar-10-python.tar.gz.

Nothing is downloaded: a missing file is an error that says where to get it. The batches are
pickles, read by safe_pickle, which builds their plain data without running them; every file and
archive member is bounded by what the data set can be.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import tarfile
import zlib
from typing import BinaryIO, Tuple

import numpy as np

from splitgan_keras.data import safe_pickle
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError, shown

BATCH_FILES = tuple("data_batch_%d" % i for i in range(1, 6))
TEST_FILES = ("test_batch",)
ARCHIVE_NAME = "cifar-10-python.tar.gz"
ARCHIVE_FOLDER = "cifar-10-batches-py"
NUM_CLASSES = 10
# What the data set can be: a batch holds 10000 images of 3072 bytes (30.7 MB as Python 2 writes it;
# up to twice that as Python 3's protocol 2 writes bytes, as UTF-8 text), the archive 6 of them.
MAX_BATCH_BYTES = 64 << 20
MAX_ARCHIVE_BYTES = 512 << 20
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
    size = os.path.getsize(filename)
    if size > MAX_BATCH_BYTES:
        raise UserError("%s has %d bytes; a CIFAR-10 batch has at most %d" % (filename, size, MAX_BATCH_BYTES))
    try:
        with open(filename, "rb") as f:
            data = f.read(MAX_BATCH_BYTES + 1)
    except MemoryError:
        raise UserError("not enough memory to read %s (%d bytes)" % (filename, size)) from None
    return _parse_batch(data, filename)


def _read_archive(filename: str, names: Tuple[str, ...]):
    """The batches `names` from the archive, read in one pass over its members, each bounded by
    MAX_BATCH_BYTES and the whole by MAX_ARCHIVE_BYTES. The archive is read to its end, so that its
    compression's own check (gzip's CRC and length, bz2's and xz's checksums) is verified."""
    wanted = {"%s/%s" % (ARCHIVE_FOLDER, name): name for name in names}
    found = {}
    try:
        with open(filename, "rb") as raw, _decompressed(raw) as stream:
            counted = _Bounded(stream, MAX_ARCHIVE_BYTES, filename)
            with tarfile.open(fileobj=counted, mode="r|") as archive:
                for member in archive:
                    if member.name not in wanted or member.name in found:
                        continue
                    if not member.isfile() or member.size > MAX_BATCH_BYTES:
                        raise UserError("%s: %s is %s; a CIFAR-10 batch is a file of at most %d bytes"
                                        % (filename, member.name, "a file of %d bytes" % member.size
                                           if member.isfile() else "not a file", MAX_BATCH_BYTES))
                    found[member.name] = archive.extractfile(member).read()
            while counted.read(1 << 20):  # to the end: the compression's check is in its trailer
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as e:
        # tarfile's message lists every method it tried; gzip and bz2 raise OSError for bad data
        reason = (str(e).splitlines() or [""])[0].rstrip(":")[:200]
        raise UserError("cannot read %s as a .tar.gz archive (%s: %s); %s"
                        % (filename, type(e).__name__, reason, _WHERE)) from None
    except MemoryError:
        raise UserError("not enough memory to read %s" % filename) from None
    missing = [member for member in wanted if member not in found]
    if missing:
        raise UserError("%s does not contain %s; is it %s?" % (filename, missing[0], ARCHIVE_NAME))
    return [_parse_batch(found[member], "%s:%s" % (filename, member)) for member in wanted]


def _decompressed(raw: BinaryIO):
    """A reader of `raw` decompressed by what its first bytes say (gzip, bz2, xz), or `raw` itself."""
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, "rb")
    return contextlib.nullcontext(raw)


class _Bounded(io.RawIOBase):
    """A reader that refuses to go past `limit` bytes: what a decompression bomb would give."""

    def __init__(self, stream: BinaryIO, limit: int, filename: str):
        super().__init__()
        self._stream, self._left, self._limit, self._filename = stream, limit, limit, filename

    def readable(self):
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise UserError("%s decompresses to more than %d bytes, more than the CIFAR-10 archive holds"
                            % (self._filename, self._limit))
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)


def _parse_batch(data: bytes, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """Returns images uint8 [n, 32, 32, 3] and labels int32 [n] of one pickled batch."""
    batch = safe_pickle.loads(data, where, "a CIFAR-10 python batch")  # downloaded: nothing it names is called
    if not isinstance(batch, dict):
        raise UserError("%s is not a CIFAR-10 python batch (a pickled %s, expected a dict)"
                        % (where, type(batch).__name__))
    data, labels = _entry(batch, "data", where), _entry(batch, "labels", where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError("%s: 'data' must be a uint8 array [n, 3072] (3x32x32, channel-major), got %s %s"
                        % (where, getattr(data, "dtype", type(data).__name__), list(np.shape(data))))
    labels = _labels(labels, len(data), where)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _entry(batch: dict, key: str, where: str):
    """batch[key], the key written as bytes (Python 2) or str (Python 3), not both."""
    present = [k for k in (key, key.encode()) if k in batch]
    if len(present) != 1:
        keys = ", ".join(shown(k) for k in list(batch)[:10]) + (", ..." if len(batch) > 10 else "")
        raise UserError("%s is not a CIFAR-10 python batch (keys %s; expected 'data' and 'labels' once each)"
                        % (where, keys or "none"))
    return batch[present[0]]


def _labels(labels, count: int, where: str) -> np.ndarray:
    """int32 [count] from a list of ints or an integer array, each in 0..NUM_CLASSES-1."""
    if isinstance(labels, np.ndarray):
        plain = labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
        values = labels.tolist() if plain else []
    else:
        plain = isinstance(labels, list) and all(type(v) is int for v in labels)
        values = labels if plain else []
    if not plain or len(values) != count:
        raise UserError("%s: 'labels' must be %d integers, got %s" % (where, count, _kind(labels)))
    if values and (min(values) < 0 or max(values) >= NUM_CLASSES):
        raise UserError("%s: labels must lie in 0..%d, found %s..%s"
                        % (where, NUM_CLASSES - 1, shown(min(values)), shown(max(values))))
    return np.array(values, np.int32)


def _kind(value) -> str:
    if isinstance(value, np.ndarray):
        return "an array of %s %s" % (value.dtype, list(value.shape))
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value})
        return "a list of %d (%s)" % (len(value), ", ".join(kinds) or "empty")
    return "a %s" % type(value).__name__


# The loader interface (dataset_names.py): what data/datasets.py calls for --dataset cifar10.

def where(cfg) -> str:
    return locate(cfg.data.data_dir)


def training_set(cfg) -> ImageData:
    return load(cfg.data.data_dir)


def test_set(cfg) -> ImageData:
    return load(cfg.data.data_dir, test=True)


def classes(cfg) -> int:
    return NUM_CLASSES
