"""Computes metrics by their protocol names: metric_names.KINDS says what each needs and which function of
computations.py computes it; the Evaluator checks the needs, draws the samples once and calls it.

IS and FID use tfgan's Inception module: the values are comparable with published ones only with
its real weights (tfgan.eval.INCEPTION_TFHUB).
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from splitgan_keras import config as config_lib, metric_names
from splitgan_keras.artefacts import sampling
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import inception, per_class, protocol, real_features
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

    def real(self, split: str) -> real_features.RealFeatures:
        """The Inception features of the training images ("train") or of the test split ("test")."""
        if split not in self._real:
            data = self.data if split == "train" else self.test_data
            self._real[split] = real_features.RealFeatures(data, split, self.network, self.cache_dir, self.progress)
        return self._real[split]

    def evaluate(self, names: List[str], source, seed: int = 0) -> Dict[str, float]:
        """The values of report(): {metric: value, ...}."""
        return self.report(names, source, seed).values

    def report(self, names: List[str], source, seed: int = 0, generator: Optional[dict] = None) -> Report:
        """The named metrics of the generator behind `source` (a sampling.SampleSource), with the
        protocol of each; `generator` says what the source is, for the protocols."""
        metrics = self.check(names)
        drawn = DrawnSamples(source, seed, self.network, self.progress)
        report = Report({}, {}, {})
        for metric in metrics:
            report.values.update(_computation(metric.kind)(self, metric, drawn, report.tables))
            report.protocols[metric.name] = self.protocol(metric, seed, generator or {})
        return report

    def protocol(self, metric: Metric, seed: int, generator: dict) -> dict:
        """What the figures of `metric` are computed on (protocol.describe), known before computing them."""
        return protocol.describe(metric, seed, self._reference(metric),
                                 self._network.handle if self._network is not None else None, generator)

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
        metric, else the first `samples` (check refuses a name that asks for more than there are)."""
        reference = self._reference_images(metric)
        if reference is None:
            return None
        data, split = reference
        return {"split": split, "data": data.description,
                "images": len(data) if metric.kind.per_class else min(metric.samples, len(data))}

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


def _computation(kind: metric_names.MetricKind) -> Callable:
    """The function kind.compute names ("module:function")."""
    module, _, function = kind.compute.partition(":")
    return getattr(importlib.import_module(module), function)


class DrawnSamples:
    """The samples of one evaluation, drawn once per count and shared by the metrics of that count
    (is50k and fid50k_train score the same 50000 images), with their Inception outputs."""

    def __init__(self, source, seed: int, network: Callable[[], inception.InceptionNetwork], progress: bool):
        self.source, self.seed = source, seed
        self._network, self._progress = network, progress
        self._images, self._outputs = {}, {}  # count -> uint8 [count, H, W, 3]; count -> (logits, pool)
        self._per_class_images, self._per_class_outputs = {}, {}  # the same, per_class -> class-major samples

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

    def per_class_images(self, per_class: int) -> np.ndarray:
        """uint8 [num_active * per_class, H, W, 3], class-major (sampling.per_class_samples)."""
        if per_class not in self._per_class_images:
            self._per_class_images[per_class] = sampling.per_class_samples(self.source, per_class, self.seed)
        return self._per_class_images[per_class]

    def per_class_outputs(self, per_class: int) -> Tuple[np.ndarray, np.ndarray]:
        """(logits, pool_3) of per_class_images(per_class)."""
        if per_class not in self._per_class_outputs:
            self._per_class_outputs[per_class] = self._network().outputs(self.per_class_images(per_class),
                                                                         self._progress)
        return self._per_class_outputs[per_class]
