"""Figures per class: the Frechet distance of every class's samples against that class's training
images (intra-class FID, as StudioGAN's iFID) or their KID (intra-class KID), and, for the classes
splits made, against the training images of their relatives in the tree (parent, children, siblings).
A class made by a split should generate its own k-means cluster, and be closer to it than to its relatives' clusters: the
method's own evidence, which no image-level metric shows.

Pure functions of features (Inception pool_3, or the built-in probe's); registry.py draws the samples.
"""
from __future__ import annotations

import dataclasses
import io
import math
import re
from typing import Dict, List

import numpy as np

from splitgan_keras.evaluate.metrics import builtin_quality, inception, scores
from splitgan_keras.metric_names import Metric
from splitgan_keras.models import hierarchy

_FEATURES = {"inception": inception.POOL_FEATURES, "probe": builtin_quality.PROBE_FEATURES}  # by MetricKind.draws
_CLASS_KEY = re.compile(r"/class_\d+$")  # the metric value of one class: "<metric>/class_<c>"


def is_class_value(key: str) -> bool:
    """Whether a metric value's key is one class's figure ("ifid5000_train/class_12")."""
    return _CLASS_KEY.search(key) is not None


@dataclasses.dataclass(frozen=True)
class ClassFigure:
    """One class's row.

    Attributes:
      label: the class.
      parent: its parent, -1 for an initial class.
      depth: its depth in the tree (0 for an initial class).
      real_images: training images in the class now.
      distance: Frechet distance of its samples to its own training images (nan: fewer than 2).
      nearest_relative: of the classes it shares a split with, the one whose training images its
        samples are closest to; -1 for a class no split made.
      relative_distance: the distance to that relative's training images (nan if none).
    """
    label: int
    parent: int
    depth: int
    real_images: int
    distance: float
    nearest_relative: int = -1
    relative_distance: float = math.nan

    def closer_to_own(self) -> bool:
        """Its samples lie closer to its own training images than to any relative's."""
        return self.distance < self.relative_distance


def relatives(parents: np.ndarray, label: int) -> List[int]:
    """The classes `label` shares a split with: its parent, its children and its parent's other
    children (parents int [C], -1 for an initial class)."""
    related = set(np.flatnonzero(parents == label).tolist())
    parent = int(parents[label])
    if parent >= 0:
        related |= {parent} | set(np.flatnonzero(parents == parent).tolist())
    related.discard(label)
    return sorted(related)


def class_figures(generated: np.ndarray, real: np.ndarray, example_labels: np.ndarray,
                  parents: np.ndarray, kernel: bool = False) -> List[ClassFigure]:
    """Every class's figures, in tree order (children after their parents).

    Args:
      generated: float [C * N, D], N samples' features of each class, class-major.
      real: float [M, D], the features of every training image.
      example_labels: int [M], the class of every training image.
      parents: int [C], the parent of every class.
      kernel: the distance is tfgan's KID (unbiased at any class size) instead of the Frechet distance.
    """
    num_classes = len(parents)
    generated = generated.reshape(num_classes, -1, generated.shape[-1])
    counts = np.bincount(example_labels, minlength=num_classes)
    measured = [c for c in range(num_classes) if counts[c] > 1]
    if kernel:
        real_of = {c: np.asarray(real[example_labels == c], np.float32) for c in measured}
    else:
        real_of = {c: scores.activation_statistics(real[example_labels == c]) for c in measured}
    figures = []
    for label, depth in hierarchy.tree_order(parents):
        own = generated[label] if kernel else scores.activation_statistics(generated[label])

        def distance(to: int) -> float:
            if to not in real_of:
                return math.nan
            return scores.kernel_distance(real_of[to], own)[0] if kernel else scores.frechet_distance(own, real_of[to])

        near = {r: distance(r) for r in relatives(parents, label) if r in real_of}
        nearest = min(near, key=near.get) if near else -1
        figures.append(ClassFigure(label, int(parents[label]), depth, int(counts[label]), distance(label), nearest,
                                   near.get(nearest, math.nan)))
    return figures


def caveat(metric: Metric, figures: List[ClassFigure]) -> str:
    """What a reader of the metric's per-class figures must know, or "": for Frechet distances, how many classes
    have no more training images than features (a singular covariance, and a bias upward that grows as the count
    falls), and what to read instead."""
    if metric.kind.draws not in _FEATURES or "kid" in metric.kind.conventions:
        return ""
    features = _FEATURES[metric.kind.draws]
    small = [f for f in figures if f.real_images <= features]
    if not small:
        return ""
    return ("%d of %d classes have at most %d training images (as few as %d), no more than the %d features: their "
            "covariance is singular and their Frechet distance biased upward by the small count, so compare classes "
            "of like counts, or read the intra-class KID (ikid), which is unbiased at any count"
            % (len(small), len(figures), max(f.real_images for f in small), min(f.real_images for f in small),
               features))


def summary(name: str, figures: List[ClassFigure]) -> Dict[str, float]:
    """The figures as metric values: `name` the mean over the classes with a distance, name/worst
    and name/worst_class, name/class_<c> for every class, and name/closer_to_own, the share of the
    classes splits made whose samples lie closer to their own training images than to a relative's."""
    measured = [f for f in figures if not math.isnan(f.distance)]
    if not measured:  # no class holds two training images
        return {name: math.nan}
    worst = max(measured, key=lambda f: f.distance)
    values = {name: float(np.mean([f.distance for f in measured])), name + "/worst": worst.distance,
              name + "/worst_class": float(worst.label)}
    values.update({"%s/class_%d" % (name, f.label): f.distance for f in figures})
    split = [f for f in measured if not math.isnan(f.relative_distance)]
    if split:
        values[name + "/closer_to_own"] = float(np.mean([f.closer_to_own() for f in split]))
    return values


def table(name: str, figures: List[ClassFigure], note: str = "") -> str:
    """A text table of the figures, one class per line, indented by depth, after the note if there is one."""
    lines = ["%s per class (tree order): class, training images, distance to its own images; for classes made by "
             "splits, the nearest relative and the distance to its images" % name]
    if note:
        lines.append("note: " + note)
    for f in figures:
        text = "%s%d%s: %d images, %.4g" % ("  " * f.depth, f.label, " <- %d" % f.parent if f.parent >= 0 else "",
                                            f.real_images, f.distance)
        if f.nearest_relative >= 0:
            text += " | nearest relative %d: %.4g%s" % (f.nearest_relative, f.relative_distance,
                                                         "" if f.closer_to_own() else "  <- closer to the relative")
        lines.append(text)
    return "\n".join(lines)


def chart(name: str, figures: List[ClassFigure], title: str = "") -> bytes:
    """A bar per class in tree order (children beside their parents): the distance to its own
    training images, and for classes made by splits a paler bar beside it, the distance to its
    nearest relative's. Returns the PNG file's bytes."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on a server
    from matplotlib import pyplot

    x = np.arange(len(figures))
    figure, axis = pyplot.subplots(figsize=(max(6.0, 0.45 * len(figures) + 2), 3.6))
    axis.bar(x - 0.2, [f.distance for f in figures], width=0.4, color="C0", label="to its own training images")
    axis.bar(x + 0.2, [f.relative_distance for f in figures], width=0.4, color="C1", alpha=0.5,
             label="to its nearest relative's (classes made by splits)")
    axis.set_xticks(x)
    axis.set_xticklabels(["%d%s" % (f.label, "<-%d" % f.parent if f.parent >= 0 else "") for f in figures],
                         rotation=90, fontsize=8)
    axis.set_ylabel("Frechet distance")
    axis.set_title(title or name)
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100)
    pyplot.close(figure)
    return png.getvalue()
