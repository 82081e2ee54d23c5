"""The Inception features of a data set's images, computed once: cached on disk under a key of
the images' bytes, their count, the Inception module's SHA-256 and the preprocessing, so that statistics computed
with one module (or one resize) are never used with another (another key, computed anew).

Files in the cache folder, each written whole (two processes may share the folder):
  inception_<data>_<split>_<count>_<key>.npy        pool_3 features, float32 [count, 2048]
  inception_<data>_<split>_<count>_<key>_stats.npz  their mean and covariance (float64)
The features are read memory-mapped, so 50000 of them (400 MB) are paged in as needed.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from typing import Callable, Dict, Tuple

import numpy as np

from splitgan_keras import files
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.evaluate.metrics import inception, scores


class RealFeatures:
    """pool_3 features and their statistics of the first n images of one split of a data set.

    Args:
      data: the split's images (data.image_data.ImageData).
      split: "train" or "test", for the file names and protocols.
      network: returns the loaded inception.InceptionNetwork.
      cache_dir: the cache folder.
      progress: print progress lines.
    """

    def __init__(self, data: ImageData, split: str, network: Callable[[], inception.InceptionNetwork],
                 cache_dir: str, progress: bool = False):
        self.data, self.split = data, split
        self._network, self._cache_dir, self._progress = network, cache_dir, progress
        self._statistics: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}  # count -> (mean, cov), for this process

    def count(self, n: int) -> int:
        """How many images "the first n" are: n, or all of them if there are fewer."""
        return min(n, len(self.data))

    def _path(self, count: int) -> str:
        key = hashlib.sha256()
        key.update(self.data.images[:count].tobytes())
        key.update(self._network().sha256.encode())
        key.update(inception.PREPROCESSING.encode())
        name = re.sub(r"[^A-Za-z0-9]+", "-", self.data.description).strip("-")[:40]
        return os.path.join(self._cache_dir, "inception_%s_%s_%d_%s" % (name, self.split, count, key.hexdigest()[:16]))

    def features(self, n: int) -> np.ndarray:
        """float32 [count(n), 2048]: the pool_3 features of the first n images (memory-mapped)."""
        path = self._path(self.count(n)) + ".npy"
        cached = _read(lambda: np.load(path, mmap_mode="r"))
        if cached is not None and cached.shape[0] == self.count(n):
            return cached
        what = "Inception features of the first %d images of the %s split" % (self.count(n), self.split)
        _, pool = self._network().outputs(self.data.images[:self.count(n)], what if self._progress else "")
        files.write_with(path, lambda f: np.save(f, pool))  # float32 already: astype would copy it
        return np.load(path, mmap_mode="r")

    def statistics(self, n: int) -> Tuple[np.ndarray, np.ndarray]:
        """(mean [2048], covariance [2048, 2048]) of features(n), in float64."""
        count = self.count(n)
        if count not in self._statistics:
            path = self._path(count) + "_stats.npz"
            cached = _read(lambda: _load_statistics(path))
            if cached is not None:
                self._statistics[count] = cached
            else:
                mean, cov = scores.activation_statistics(self.features(count))
                buffer = io.BytesIO()
                np.savez(buffer, mean=mean, cov=cov)
                files.write_bytes(path, buffer.getvalue())
                self._statistics[count] = mean, cov
        return self._statistics[count]


def _load_statistics(path: str) -> Tuple[np.ndarray, np.ndarray]:
    with np.load(path) as cached:
        return cached["mean"], cached["cov"]


def _read(load):
    """What `load` reads from the cache, or None when the file is missing or unreadable (a cache
    file damaged outside this program is computed anew, not trusted; np.load runs no pickles)."""
    try:
        return load()
    except (OSError, ValueError, KeyError, EOFError):
        return None
