"""Computes metrics by their protocol names (metric_names.py, which says what each needs).

IS and FID use tfgan's Inception module: the values are comparable with published ones only with
its real weights (tfgan.eval.INCEPTION_TFHUB).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from splitgan_keras import config as config_lib, files, metric_names
from splitgan_keras.artefacts import sampling
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import builtin_quality, inception, scores
from splitgan_keras.metric_names import Metric
from splitgan_keras.replicas import Replicas

_SPREADS = ("_std", "_se")

# How to get what a metric needs when it is missing, for "<metric> needs <what>: <hint>".
_HINTS = {
    metric_names.TRAINING_IMAGES: "evaluate a run dir, or give --dataset/--data-dir",
    metric_names.APPEARANCE: "evaluate a run on it, or give --dataset builtin",
    metric_names.CLASS_STATE: "evaluate a run dir or a checkpoint (an export has none)",
}


class Evaluator:
    """Computes named metrics of a generator, sharing the Inception network and the real statistics.

    Args:
      inception_handle: tfgan's TF-Hub handle or a local module folder (None: tfgan's default).
      data: the training set (data.image_data.ImageData: its images for FID, what they show for
        the built-in probe), or None.
      cache_dir: folder of cached real statistics.
      progress: show progress bars.
      class_state: returns (current class of every training image int [N], parent of every class
        int [C]) of the generator, or None.
      replicas: the run's replicas, which share the Inception passes (and, with a source made
        with the same replicas, the generation); then every process must evaluate together.
    """

    def __init__(self, inception_handle: Optional[str] = None, data: Optional[ImageData] = None,
                 cache_dir: Optional[str] = None, progress: bool = False,
                 class_state: Optional[Callable[[], Tuple[np.ndarray, np.ndarray]]] = None,
                 replicas: Replicas = Replicas()):
        self.inception_handle = inception_handle
        self.replicas = replicas
        self.data = data
        self.cache_dir = cache_dir or config_lib.user_cache_dir()
        self.progress = progress
        self.class_state = class_state
        self._network = None
        self._real_statistics = {}  # n -> (mean, cov): training evaluates against the same images each time
        self._compute = {metric_names.INCEPTION_SCORE: self._inception_score, metric_names.FID: self._fid,
                         metric_names.BUILTIN_QUALITY: self._builtin_quality,
                         metric_names.BUILTIN_FID: self._builtin_fid}

    def _has(self, need: str) -> bool:
        if need == metric_names.INCEPTION:
            return self.network() is not None  # loads it, so that a missing module fails now
        if need == metric_names.TRAINING_IMAGES:
            return self.data is not None
        if need == metric_names.APPEARANCE:
            return self.data is not None and self.data.appearance is not None
        return self.class_state is not None

    def check(self, names: List[str]) -> List[Metric]:
        """Parses the names and gets what they need now, so that a missing module fails early."""
        metrics = metric_names.parse_all(names)
        for metric in metrics:
            for need in metric.kind.needs:
                if not self._has(need):
                    raise UserError("%s needs %s: %s" % (metric.name, need, _HINTS[need]))
        return list(metrics)

    def network(self):
        if self._network is None:
            self._network = inception.InceptionNetwork(self.inception_handle, replicas=self.replicas)
        return self._network

    def evaluate(self, names: List[str], source, seed: int = 0) -> Dict[str, float]:
        """{metric: value}, plus "<is metric>_std" for Inception Scores and "<metric>/<figure>" for
        metrics of several figures (builtin_quality)."""
        metrics = self.check(names)
        drawn = _Samples(source, seed, self.network, self.progress)
        results = {}
        for metric in metrics:
            results.update(self._compute[metric.kind](metric, drawn))
        return results

    @staticmethod
    def _inception_score(metric: Metric, drawn: "_Samples") -> Dict[str, float]:
        mean, std = scores.inception_score(drawn.outputs(metric.samples)[0])
        return {metric.name: mean, metric.name + "_std": std}

    def _fid(self, metric: Metric, drawn: "_Samples") -> Dict[str, float]:
        pool = drawn.outputs(metric.samples)[1]
        return {metric.name: scores.frechet_distance(self.real_statistics(metric.samples),
                                                     scores.activation_statistics(pool))}

    def _builtin_quality(self, metric: Metric, drawn: "_Samples") -> Dict[str, float]:
        appearance = self.data.appearance
        probe = builtin_quality.QualityProbe(appearance.colour, appearance.kind, self.class_state, metric.samples,
                                             labels_carry_kind=appearance.labels_carry_kind)
        return {metric.name + "/" + key: value for key, value in probe.measure(drawn.source, drawn.seed).items()}

    def _builtin_fid(self, metric: Metric, drawn: "_Samples") -> Dict[str, float]:
        return {metric.name: builtin_quality.frechet_distance(self.data.images[:metric.samples],
                                                              drawn.images(metric.samples))}

    @staticmethod
    def format(results: Dict[str, float]) -> str:
        """"is50k 8.21 +- 0.10, fid50k_train 21.3, ...": each value with its spread where it has one
        (an Inception Score's std over its splits, a standard error)."""
        parts = []
        for key, value in results.items():
            if key.endswith(_SPREADS):
                continue
            spread = next((results[key + s] for s in _SPREADS if key + s in results), None)
            parts.append("%s %.4g" % (key, value) + (" +- %.3g" % spread if spread is not None else ""))
        return ", ".join(parts)

    def real_statistics(self, n: int):
        """pool_3 mean and covariance of the first n training images, cached by data, n and module."""
        if n not in self._real_statistics:
            self._real_statistics[n] = self._cached_real_statistics(n)
        return self._real_statistics[n]

    def _cached_real_statistics(self, n: int):
        images = self.data.images[:n]
        key = hashlib.sha1()
        key.update(images.tobytes())
        key.update(inception.fingerprint(self.network().handle))
        path = os.path.join(self.cache_dir, "fid_train_%s_%d_%s.npz" % (
            re.sub(r"[^A-Za-z0-9]+", "-", self.data.source).strip("-")[:40], len(images), key.hexdigest()[:16]))
        if os.path.isfile(path):
            with np.load(path) as cached:
                return cached["mean"], cached["cov"]
        _, pool = self.network().outputs(images, self.progress)
        mean, cov = scores.activation_statistics(pool)
        buffer = io.BytesIO()
        np.savez(buffer, mean=mean, cov=cov)
        files.write_bytes(path, buffer.getvalue())
        return mean, cov


class _Samples:
    """The samples of one evaluation, drawn once per count and shared by the metrics of that count
    (is50k and fid50k_train score the same 50000 images), with their Inception outputs."""

    def __init__(self, source, seed: int, network: Callable[[], inception.InceptionNetwork], progress: bool):
        self.source, self.seed = source, seed
        self._network, self._progress = network, progress
        self._images, self._outputs = {}, {}  # count -> uint8 [count, H, W, 3]; count -> (logits, pool)

    def images(self, count: int) -> np.ndarray:
        """uint8 [count, H, W, 3] with uniform labels."""
        if count not in self._images:
            self._images[count], _ = sampling.uniform_samples(self.source, count, self.seed)
        return self._images[count]

    def outputs(self, count: int) -> Tuple[np.ndarray, np.ndarray]:
        """(logits [count, K], pool_3 [count, D]) of images(count)."""
        if count not in self._outputs:
            self._outputs[count] = self._network().outputs(self.images(count), self._progress)
        return self._outputs[count]
