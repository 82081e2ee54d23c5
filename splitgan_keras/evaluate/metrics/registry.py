"""Computes metrics by their protocol names: metric_names.KINDS says what each needs and which function of
computations.py computes it; the Evaluator checks the needs, draws the samples once and calls it.

IS and FID use tfgan's Inception module: the values are comparable with published ones only with
its real weights (tfgan.eval.INCEPTION_TFHUB).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from splitgan_keras import config as config_lib, metric_names
from splitgan_keras.artefacts import sampling
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import builtin_quality, inception, memory, per_class, protocol, real_features
from splitgan_keras.evaluate.metrics.progress import Progress
from splitgan_keras.metric_names import Metric
from splitgan_keras.replicas import Replicas

_SPREADS = ("_std", "_se")

# How to get what a metric needs when it is missing, for "<metric> needs <what>: <hint>".
_HINTS = {
    metric_names.TRAINING_IMAGES: "evaluate a run dir, or give --dataset/--data-dir",
    metric_names.TEST_IMAGES: "the data set has none (or give --dataset/--data-dir for a source without a run)",
    metric_names.APPEARANCE: "evaluate a run on it, or give --dataset builtin",
    metric_names.EXAMPLE_CLASSES: "evaluate a run dir or a checkpoint (an export has none)",
}


@dataclasses.dataclass
class Report:
    """What one evaluation found.

    Attributes:
      values: {metric: value}, plus "<metric>_std" or "<metric>_se" for a spread and
        "<metric>/<figure>" for metrics of several figures (builtin_quality, pr, ifid).
      protocols: {metric: what its figures were computed on} (protocol.describe).
      tables: {metric: [per_class.ClassFigure]} for the metrics with a figure per class (ifid).
    """
    values: Dict[str, float]
    protocols: Dict[str, dict]
    tables: Dict[str, List[per_class.ClassFigure]]


class Evaluator:
    """Computes named metrics of a generator, sharing the Inception network and the real statistics.

    Args:
      inception_handle: tfgan's TF-Hub handle or a local module folder (None: tfgan's default).
      data: the training set (data.image_data.ImageData: its images for FID, what they show for
        the built-in probe), or None.
      cache_dir: folder of cached real statistics.
      progress: show progress bars.
      example_classes: returns (current class of every training image int [N], parent of every class
        int [C]) of the generator, or None.
      replicas: the run's replicas, which share the Inception passes (and, with a source made
        with the same replicas, the generation); then every process must evaluate together.
      test_data: the test split of the training set's data set (datasets.load_test), or None.
    """

    def __init__(self, inception_handle: Optional[str] = None, data: Optional[ImageData] = None,
                 cache_dir: Optional[str] = None, progress: bool = False,
                 example_classes: Optional[Callable[[], Tuple[np.ndarray, np.ndarray]]] = None,
                 replicas: Replicas = Replicas(), test_data: Optional[ImageData] = None):
        self.inception_handle = inception_handle
        self.replicas = replicas
        self.data, self.test_data = data, test_data
        self.cache_dir = cache_dir or config_lib.user_cache_dir()
        self.progress = progress
        self.example_classes = example_classes
        self._network = None
        self._real: Dict[str, real_features.RealFeatures] = {}  # split -> its features, kept between evaluations
        self._digests: Dict[Tuple[str, int], str] = {}  # (split, count) -> SHA-256 of those images

    def _has(self, need: str) -> bool:
        if need == metric_names.INCEPTION:
            return self.network() is not None  # loads it, so that a missing module fails now
        if need == metric_names.TRAINING_IMAGES:
            return self.data is not None
        if need == metric_names.TEST_IMAGES:
            return self.test_data is not None
        if need == metric_names.APPEARANCE:
            return self.data is not None and self.data.appearance is not None
        return self.example_classes is not None

    def check(self, names: List[str]) -> List[Metric]:
        """Parses the names and gets what they need now, so that a missing module fails early."""
        metrics = metric_names.parse_all(names)
        for metric in metrics:
            for need in metric.kind.needs:
                if not self._has(need):
                    raise UserError("%s needs %s: %s" % (metric.name, need, _HINTS[need]))
            reference = self._reference_images(metric)
            if reference is not None and not metric.kind.per_class and metric.samples > len(reference[0]):
                # A name promises its sample count: fewer real images would be a figure of another protocol.
                data, split = reference
                raise UserError("%s compares %d samples with the first %d images of the %s split, and %s has %d: "
                                "use %s (or fewer)" % (metric.name, metric.samples, metric.samples, split,
                                                       data.description, len(data), metric.kind.name(len(data))))
        return list(metrics)

    def network(self):
        if self._network is None:
            self._network = inception.InceptionNetwork(self.inception_handle, replicas=self.replicas)
        return self._network

    def readers(self) -> Dict[str, Callable[[np.ndarray], Tuple[np.ndarray, ...]]]:
        """What DrawnSamples reads of the samples, by metric_names.MetricKind.draws."""
        return {"inception": lambda images: self.network().outputs(images),
                "probe": lambda images: (builtin_quality.features(images),),
                "images": lambda images: (images,)}

    def real(self, split: str) -> real_features.RealFeatures:
        """The Inception features of the training images ("train") or of the test split ("test")."""
        if split not in self._real:
            data = self.data if split == "train" else self.test_data
            self._real[split] = real_features.RealFeatures(data, split, self.network, self.cache_dir, self.progress)
        return self._real[split]

    def evaluate(self, names: List[str], source, seed: int = 0) -> Dict[str, float]:
        """The values of report(): {metric: value, ...}."""
        return self.report(names, source, seed).values

    def report(self, names: List[str], source, seed: int = 0, generator: Optional[dict] = None,
               done: Optional[Callable[[Report, Metric], None]] = None) -> Report:
        """The named metrics of the generator behind `source` (a sampling.SampleSource), with the
        protocol of each; `generator` says what the source is, for the protocols. done(report so far, metric)
        is called as each metric completes, so that its figures can be shown and kept at once."""
        metrics = self.check(names)
        drawn = DrawnSamples(source, seed, metrics, self.readers(), self.progress)
        memory.check(drawn.kept_per_sample(), metrics, source.num_active())
        report = Report({}, {}, {})
        for metric in metrics:
            report.values.update(_computation(metric.kind)(self, metric, drawn, report.tables))
            report.protocols[metric.name] = self.protocol(metric, seed, generator or {})
            if done:
                done(report, metric)
        return report

    def protocol(self, metric: Metric, seed: int, generator: dict) -> dict:
        """What the figures of `metric` are computed on (protocol.describe), known before computing them."""
        return protocol.describe(metric, seed, self._reference(metric),
                                 self._network.identity() if self._network is not None else None, generator)

    def _reference_images(self, metric: Metric) -> Optional[Tuple[ImageData, str]]:
        """(the real images a metric compares with, "train" or "test"), or None for a metric without them."""
        needs = metric.kind.needs
        if metric_names.TEST_IMAGES in needs:
            return self.test_data, "test"
        if metric_names.TRAINING_IMAGES in needs or metric_names.APPEARANCE in needs:
            return self.data, "train"
        return None

    def _reference(self, metric: Metric) -> Optional[dict]:
        """The reference images of a metric, for its protocol (None: it has none): all of them for a per-class
        metric (with the class of each), else the first `samples` (check refuses a name that asks for more than
        there are); with the SHA-256 of their bytes."""
        reference = self._reference_images(metric)
        if reference is None:
            return None
        data, split = reference
        count = len(data) if metric.kind.per_class else min(metric.samples, len(data))
        described = {"split": split, "data": data.description, "images": count,
                     "sha256": self._digest(split, data.images, count)}
        if metric.kind.per_class and self.example_classes is not None:
            described["classes_sha256"] = hashlib.sha256(
                np.ascontiguousarray(self.example_classes()[0], np.int64).tobytes()).hexdigest()
        return described

    def _digest(self, split: str, images: np.ndarray, count: int) -> str:
        """SHA-256 of the first `count` images of a split, computed once per evaluator."""
        if (split, count) not in self._digests:
            self._digests[(split, count)] = hashlib.sha256(np.ascontiguousarray(images[:count]).tobytes()).hexdigest()
        return self._digests[(split, count)]

    @staticmethod
    def format(results: Dict[str, float]) -> str:
        """"is50k 8.21 +- 0.10, fid50k_train 21.3, ...": each value with its spread where it has one
        (an Inception Score's std over its splits, a standard error)."""
        parts = []
        for key, value in results.items():
            if key.endswith(_SPREADS) or per_class.is_class_value(key):  # per-class figures: in the class table
                continue
            spread = next((results[key + s] for s in _SPREADS if key + s in results), None)
            parts.append("%s %.4g" % (key, value) + (" +- %.3g" % spread if spread is not None else ""))
        return ", ".join(parts)


def values_of(values: Dict[str, float], name: str) -> Dict[str, float]:
    """The entries of metric `name` among report values: name, name_std / name_se, name/<figure>."""
    return {key: value for key, value in values.items() if key == name or key.startswith((name + "_", name + "/"))}


def _computation(kind: metric_names.MetricKind) -> Callable:
    """The function kind.compute names ("module:function")."""
    module, _, function = kind.compute.partition(":")
    return getattr(importlib.import_module(module), function)


CHUNK = 1000  # samples drawn and scored at a time: their images are what memory holds of them (3 MB at 32x32)


class DrawnSamples:
    """The samples of one evaluation, drawn once per count (and per-class or not) and shared by the metrics of
    that count (is50k and fid50k_train score the same 50000 images). They are drawn and scored CHUNK at a time:
    what is kept of them is what the metrics read (metric_names.MetricKind.draws), not the images.

    Args:
      source: a sampling.SampleSource.
      seed: the seed of the noise and labels.
      metrics: the evaluation's metrics, whose draws are computed in one pass per count.
      readers: {draws: reader(uint8 images [m, H, W, 3]) -> tuple of arrays [m, ...]}.
      progress: print a line as each tenth of a pass is done.
    """

    def __init__(self, source, seed: int, metrics: List[Metric],
                 readers: Dict[str, Callable[[np.ndarray], Tuple[np.ndarray, ...]]], progress: bool = False):
        self.source, self.seed = source, seed
        self._readers, self._progress = readers, progress
        self._wanted: Dict[Tuple[int, bool], List[Metric]] = {}  # (samples, per_class) -> the metrics that read them
        for metric in metrics:
            if metric.kind.draws:
                self._wanted.setdefault((metric.samples, metric.kind.per_class), []).append(metric)
        self._read: Dict[Tuple[int, bool], Dict[str, Tuple[np.ndarray, ...]]] = {}

    def kept_per_sample(self) -> Dict[Tuple[int, bool, str], int]:
        """{(samples, per_class, draws): bytes kept of each sample}, for memory.check."""
        size = self.source.image_size
        per_sample = {"inception": 4 * (inception.LOGIT_CLASSES + inception.POOL_FEATURES),
                      "probe": 8 * builtin_quality.PROBE_FEATURES, "images": size * size * 3}
        return {(samples, per_class, m.kind.draws): per_sample[m.kind.draws]
                for (samples, per_class), wanted in self._wanted.items() for m in wanted}

    def read(self, metric: Metric) -> Tuple[np.ndarray, ...]:
        """What metric.kind.draws reads of the metric's samples: for "inception" (logits float32 [n, 1008],
        pool_3 float32 [n, 2048]), for "probe" (features [n, 8],), for "images" (uint8 [n, H, W, 3],); n
        samples with uniform labels, or for a per-class metric num_active * samples, class-major."""
        key = (metric.samples, metric.kind.per_class)
        if key not in self._read:
            self._read[key] = self._draw(*key)
        return self._read[key][metric.kind.draws]

    def _draw(self, samples: int, per_class: bool) -> Dict[str, Tuple[np.ndarray, ...]]:
        wanted = self._wanted[(samples, per_class)]
        draws = sorted({m.kind.draws for m in wanted})
        if per_class:
            total = samples * self.source.num_active()
            chunks = sampling.per_class_chunks(self.source, samples, self.seed, CHUNK)
        else:
            total, chunks = samples, sampling.uniform_chunks(self.source, samples, self.seed, CHUNK)
        progress = Progress("drawing and scoring %d samples%s for %s" % (
            total, " (%d of every class)" % samples if per_class else "", ", ".join(m.name for m in wanted)),
            total, self._progress)
        kept: Dict[str, Tuple[np.ndarray, ...]] = {}
        for positions, images in chunks:
            for name in draws:
                parts = self._readers[name](images)
                if name not in kept:
                    kept[name] = tuple(np.empty((total,) + part.shape[1:], part.dtype) for part in parts)
                for whole, part in zip(kept[name], parts):
                    whole[positions] = part
            progress.add(len(images))
        return kept
