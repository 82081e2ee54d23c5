"""The metrics' one vocabulary: protocol names, which state what a figure was computed on.

  is<N>               Inception Score of N samples with uniform labels, 10 splits, mean and std (the
                      original: is50k)
  fid<N>_train        FID of N samples against the first N training images (all of them if fewer),
                      tfgan's Frechet distance on pool_3 (the usual protocol: fid50k_train)
  fid<N>_test         the same against the first N images of the test split (the clean-fid and
                      StudioGAN leaderboards: fid10k_test)
  kid<N>_train        Kernel Inception Distance (tfgan's unbiased block estimator) of N samples
                      against the first N training images, with its standard error
  pr<N>_train         improved precision and recall (Kynkaanniemi et al. 2019, k = 3 nearest
                      neighbours on pool_3) of N samples against the first N training images
  ifid<N>_train       intra-class FID: N samples of every class against the training images of that
                      class (the k-means cluster a split gave it), per class, their mean and the worst
  builtin_quality<N>  how often N samples of every class show their class's colour and, for classes
                      that carry a sub-class, its sub-class, read off the pixels by a probe (data sets
                      whose images a probe can read: the built-in one); builtin_quality is
                      builtin_quality100
  builtin_fid<N>_train  the Frechet distance of N samples with uniform labels against the first N
                      training images in the probe's feature space (the built-in FID)
  builtin_ifid<N>_train  ifid in the probe's feature space

N is a number with an optional k (1000). Each kind declares what it needs, so that the checks of
a config (before TensorFlow starts) and of an evaluation (evaluate/metrics/registry.py, which
computes them) come from this one table. Pure Python: config checks import it.
"""
from __future__ import annotations

import dataclasses
import re
from typing import FrozenSet, Sequence, Tuple

from splitgan_keras.errors import UserError

# What a metric may need, worded for "<metric> needs ...".
INCEPTION = "the Inception module"
TRAINING_IMAGES = "the training images"
TEST_IMAGES = "the test split of the training set's data set"
APPEARANCE = "a training set that knows what its images show (the built-in dataset)"
CLASS_STATE = "the class of every training image"


@dataclasses.dataclass(frozen=True)
class MetricKind:
    """One family of metrics, named prefix + N + suffix.

    Attributes:
      prefix, suffix: the name's parts around the sample count.
      needs: what computing it takes (the names above), in the order they are checked.
      least: the fewest samples that make sense.
      per_class: N counts the samples of every class, not the samples in all.
      default_samples: the N of the bare prefix as a name (builtin_quality), or 0: no such alias.
      usual: the N the field usually reports (for examples in messages).
    """
    prefix: str
    suffix: str
    needs: Tuple[str, ...]
    least: int
    per_class: bool = False
    default_samples: int = 0
    usual: int = 50000

    def name(self, samples: int) -> str:
        return "%s%d%s" % (self.prefix, samples, self.suffix)

    def example(self) -> str:
        return re.sub(r"(\d+)000(?=\D|$)", r"\1k", self.name(self.usual))


INCEPTION_SCORE = MetricKind("is", "", (INCEPTION,), least=10)  # 10: one sample per split
FID = MetricKind("fid", "_train", (INCEPTION, TRAINING_IMAGES), least=2)
FID_TEST = MetricKind("fid", "_test", (INCEPTION, TEST_IMAGES), least=2, usual=10000)
KID = MetricKind("kid", "_train", (INCEPTION, TRAINING_IMAGES), least=2)
# least 4: k = 3 neighbours besides the point itself
PRECISION_RECALL = MetricKind("pr", "_train", (INCEPTION, TRAINING_IMAGES), least=4, usual=10000)
IFID = MetricKind("ifid", "_train", (INCEPTION, TRAINING_IMAGES, CLASS_STATE), least=2, per_class=True, usual=5000)
BUILTIN_QUALITY = MetricKind("builtin_quality", "", (APPEARANCE, CLASS_STATE), least=1, per_class=True,
                             default_samples=100, usual=100)
BUILTIN_FID = MetricKind("builtin_fid", "_train", (TRAINING_IMAGES, APPEARANCE), least=2, usual=2000)
BUILTIN_IFID = MetricKind("builtin_ifid", "_train", (TRAINING_IMAGES, APPEARANCE, CLASS_STATE), least=2,
                          per_class=True, usual=200)
KINDS = (INCEPTION_SCORE, FID, FID_TEST, KID, PRECISION_RECALL, IFID, BUILTIN_QUALITY, BUILTIN_FID, BUILTIN_IFID)
PER_CLASS_TABLES = (IFID, BUILTIN_IFID)  # kinds whose figures come with a table of every class


@dataclasses.dataclass(frozen=True)
class Metric:
    """A parsed protocol name: `samples` in all, or of every class where kind.per_class."""
    name: str
    kind: MetricKind
    samples: int


def parse(name: str) -> Metric:
    """The metric a protocol name means; UserError for an unknown name or too few samples."""
    for kind in KINDS:
        if name == kind.prefix and kind.default_samples:
            return Metric(kind.name(kind.default_samples), kind, kind.default_samples)
        match = re.fullmatch(r"%s(\d+)(k?)%s" % (re.escape(kind.prefix), re.escape(kind.suffix)), name)
        if match:
            samples = int(match.group(1)) * (1000 if match.group(2) else 1)
            if samples < kind.least:
                raise UserError("metric %r: at least %d samples are needed" % (name, kind.least))
            return Metric(kind.name(samples), kind, samples)
    raise UserError("unknown metric %r: use %s" % (name, ", ".join(
        "%s<N>%s (%se.g. %s)" % (k.prefix, k.suffix, "N samples per class, " if k.per_class else "", k.example())
        for k in KINDS)))


def parse_all(names: Sequence[str]) -> Tuple[Metric, ...]:
    return tuple(parse(n) for n in names)


def needed(metrics: Sequence[Metric]) -> FrozenSet[str]:
    """Everything that some of the metrics need."""
    return frozenset(need for m in metrics for need in m.kind.needs)


_LEGACY_KINDS = {"is": INCEPTION_SCORE, "fid": FID, "builtin_fid": BUILTIN_FID}


def from_legacy(names: Sequence[str], samples: int) -> Tuple[str, ...]:
    """Protocol names for the metrics of a config written before them, which named kinds (is,
    fid, builtin_quality, builtin_fid) and gave one sample count (eval.samples) for them all."""
    return tuple(_LEGACY_KINDS[n].name(samples) if n in _LEGACY_KINDS else n for n in names)
