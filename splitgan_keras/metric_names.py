"""The metrics' one table: every kind of metric is one MetricKind entry in KINDS, which says how its protocol
names are formed, what it needs, how it is computed (a function, imported when first used), the conventions its
figures follow and its help text. The config checks (before TensorFlow starts), the command lines' help, the
evaluation (evaluate/metrics/registry.py) and the figures' protocols all read this table; docs/development.md
says how to add a metric.

A protocol name states what a figure was computed on: prefix + N + suffix, N a number with an optional k (1000),
the samples in all (or of every class, for per-class kinds): is50k, fid50k_train, fid10k_test, kid50k_train,
pr10k_train, ifid5k_train, builtin_quality100, builtin_fid2000_train, builtin_ifid200_train. Pure Python.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, FrozenSet, Mapping, Sequence, Tuple

from splitgan_keras.errors import UserError

# The protocols' numbers, which the functions that compute them (evaluate/metrics/scores.py) take as defaults.
IS_SPLITS = 10  # the OpenAI Inception Score's
KID_BLOCK = 1024  # tfgan's default block size
PR_NEIGHBOURS = 3  # k of Kynkaanniemi et al. 2019

# What a metric may need, worded for "<metric> needs ...".
INCEPTION = "the Inception module"
TRAINING_IMAGES = "the training images"
TEST_IMAGES = "the test split of the training set's data set"
APPEARANCE = "a training set that knows what its images show (the built-in dataset)"
EXAMPLE_CLASSES = "the class of every training image"


@dataclasses.dataclass(frozen=True)
class MetricKind:
    """One family of metrics, named prefix + N + suffix.

    Attributes:
      prefix, suffix: the name's parts around the sample count.
      help: what a figure is, for people ("Inception Score of N samples ..."): help texts and messages.
      needs: what computing it takes (the names above), in the order they are checked.
      compute: "module:function", imported when first used and called as
        function(evaluator, metric, samples, tables) -> {value key: float} (see registry.py).
      least: the fewest samples that make sense.
      draws: what its computation reads of the samples the evaluation draws for it (DrawnSamples.read):
        "inception" their Inception outputs (logits, pool_3), "probe" the built-in probe's features,
        "images" the images; "" for a metric that draws its own (builtin_quality).
      per_class: N counts the samples of every class, not the samples in all; its reference is every
        training image.
      class_table: its figures come with a table of every class (tables[name], per_class.ClassFigure).
      conventions: what its figures follow besides the samples, reference and features, for their protocol.
      default_samples: the N of the bare prefix as a name (builtin_quality), or 0: no such alias.
      usual: the N the field usually reports (for examples in messages).
    """
    prefix: str
    suffix: str
    help: str
    needs: Tuple[str, ...]
    compute: str
    least: int
    draws: str = ""
    per_class: bool = False
    class_table: bool = False
    conventions: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)  # kinds stay hashable
    default_samples: int = 0
    usual: int = 50000

    def name(self, samples: int) -> str:
        return "%s%d%s" % (self.prefix, samples, self.suffix)

    def example(self) -> str:
        return re.sub(r"(\d+)000(?=\D|$)", r"\1k", self.name(self.usual))

    def pattern(self) -> str:
        """How people write its names: "is<N>", "fid<N>_train"."""
        return "%s<N>%s" % (self.prefix, self.suffix)


_COMPUTED_IN = "splitgan_keras.evaluate.metrics.computations:"
_FRECHET = {"frechet": "tfgan's trace_sqrt_product on float64 statistics (unbiased covariance)"}
_KID = {"kernel": "(x.y / D + 1)^3", "estimator": "tfgan's unbiased block estimator", "block": KID_BLOCK}
_PER_CLASS = {"per_class": "each class's samples against the training images now in that class"}

INCEPTION_SCORE = MetricKind(
    "is", "", "Inception Score of N samples with uniform labels, mean and std over 10 splits; the original "
              "reports is50k",
    (INCEPTION,), _COMPUTED_IN + "inception_score", least=IS_SPLITS, draws="inception",  # one sample per split
    conventions={"inception_score": {"splits": IS_SPLITS, "std": "population std over the splits",
                                     "score": "tfgan.eval.classifier_score_from_logits on each split"}})
FID = MetricKind(
    "fid", "_train", "FID of N samples against the first N training images; the usual protocol is fid50k_train",
    (INCEPTION, TRAINING_IMAGES), _COMPUTED_IN + "frechet_inception_distance", least=2, draws="inception",
    conventions=_FRECHET)
FID_TEST = MetricKind(
    "fid", "_test", "FID against the first N images of the test split, as the clean-fid and StudioGAN leaderboards",
    (INCEPTION, TEST_IMAGES), _COMPUTED_IN + "frechet_inception_distance", least=2, draws="inception",
    conventions=_FRECHET, usual=10000)
KID = MetricKind(
    "kid", "_train", "Kernel Inception Distance of N samples against the first N training images, with its "
                     "standard error", (INCEPTION, TRAINING_IMAGES), _COMPUTED_IN + "kernel_inception_distance",
    least=2, draws="inception",
    conventions={"kid": _KID})
PRECISION_RECALL = MetricKind(
    "pr", "_train", "improved precision and recall, k = 3 nearest neighbours on pool_3, of N samples against the "
                    "first N training images", (INCEPTION, TRAINING_IMAGES), _COMPUTED_IN + "precision_recall",
    least=PR_NEIGHBOURS + 1, draws="inception",  # k neighbours besides the point itself
    conventions={"precision_recall": {"k": PR_NEIGHBOURS, "paper": "Kynkaanniemi et al. 2019"}}, usual=10000)
IFID = MetricKind(
    "ifid", "_train", "intra-class FID: N samples of every class against the training images of that class, per "
                      "class, their mean and the worst", (INCEPTION, TRAINING_IMAGES, EXAMPLE_CLASSES),
    _COMPUTED_IN + "intra_class_fid", least=2, draws="inception", per_class=True, class_table=True,
    conventions=_PER_CLASS, usual=5000)
IKID = MetricKind(
    "ikid", "_train", "intra-class KID: N samples of every class against the training images of that class, per "
                      "class, with its standard error; unbiased however few images a class has, where iFID is not",
    (INCEPTION, TRAINING_IMAGES, EXAMPLE_CLASSES), _COMPUTED_IN + "intra_class_kid", least=2, draws="inception",
    per_class=True, class_table=True, conventions=dict(_PER_CLASS, kid=_KID), usual=5000)
BUILTIN_QUALITY = MetricKind(
    "builtin_quality", "", "how often N samples of every class show their class's colour and sub-class, read off "
                           "the pixels (the built-in dataset); builtin_quality is builtin_quality100",
    (APPEARANCE, EXAMPLE_CLASSES), _COMPUTED_IN + "builtin_quality_figures", least=1, per_class=True,
    default_samples=100, usual=100)
BUILTIN_FID = MetricKind(
    "builtin_fid", "_train", "the Frechet distance of N samples against the first N training images in the built-in "
                             "probe's feature space: the built-in FID", (TRAINING_IMAGES, APPEARANCE),
    _COMPUTED_IN + "builtin_fid", least=2, draws="probe", usual=2000)
BUILTIN_IFID = MetricKind(
    "builtin_ifid", "_train", "ifid in the built-in probe's feature space",
    (TRAINING_IMAGES, APPEARANCE, EXAMPLE_CLASSES),
    _COMPUTED_IN + "intra_class_fid", least=2, draws="probe", per_class=True, class_table=True,
    conventions=_PER_CLASS, usual=200)
KINDS = (INCEPTION_SCORE, FID, FID_TEST, KID, PRECISION_RECALL, IFID, IKID, BUILTIN_QUALITY, BUILTIN_FID,
         BUILTIN_IFID)


def help_text(kinds: Sequence[MetricKind] = ()) -> str:
    """The kinds (default: all) for a help text: "is<N>: Inception Score of ... (e.g. is50k); ..."."""
    return "; ".join("%s: %s (e.g. %s)" % (k.pattern(), k.help, k.example()) for k in kinds or KINDS)


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
        "%s (%se.g. %s)" % (k.pattern(), "N samples per class, " if k.per_class else "", k.example())
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
