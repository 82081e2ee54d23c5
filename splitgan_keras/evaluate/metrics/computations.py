"""How each kind of metric is computed (metric_names.KINDS names these functions).

Each is function(evaluator, metric, drawn, tables) -> {value key: float}: `evaluator` (registry.Evaluator) gives
the real images' features (real), the training set (data) and the class of every training image
(example_classes); `drawn` (registry.DrawnSamples) what the metric reads of the generator's samples (drawn.read:
their Inception outputs, probe features or images, by its kind's `draws`), drawn once per count and shared by the
metrics of an evaluation; a metric with a table of every class writes it to tables[metric.name].
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List

from splitgan_keras import metric_names
from splitgan_keras.evaluate.metrics import builtin_quality, per_class, scores
from splitgan_keras.metric_names import Metric

if TYPE_CHECKING:
    from splitgan_keras.evaluate.metrics.registry import DrawnSamples, Evaluator

Tables = Dict[str, List[per_class.ClassFigure]]


def inception_score(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples", tables: Tables) -> Dict[str, float]:
    mean, std = scores.inception_score(drawn.read(metric)[0])
    return {metric.name: mean, metric.name + "_std": std}


def frechet_inception_distance(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples",
                               tables: Tables) -> Dict[str, float]:
    split = "test" if metric_names.TEST_IMAGES in metric.kind.needs else "train"
    pool = drawn.read(metric)[1]
    return {metric.name: scores.frechet_distance(evaluator.real(split).statistics(metric.samples),
                                                 scores.activation_statistics(pool))}


def kernel_inception_distance(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples",
                              tables: Tables) -> Dict[str, float]:
    kid, se = scores.kernel_distance(evaluator.real("train").features(metric.samples),
                                     drawn.read(metric)[1])
    return {metric.name: kid, metric.name + "_se": se}


def precision_recall(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples", tables: Tables) -> Dict[str, float]:
    precision, recall = scores.precision_recall(evaluator.real("train").features(metric.samples),
                                                drawn.read(metric)[1])
    return {metric.name + "/precision": precision, metric.name + "/recall": recall}


def intra_class_fid(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples", tables: Tables) -> Dict[str, float]:
    """Each class's samples against the training images now in that class: on pool_3 (ifid) or on the built-in
    probe's features (builtin_ifid, which needs no Inception module)."""
    return _per_class(evaluator, metric, drawn, tables, kernel=False)


def intra_class_kid(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples", tables: Tables) -> Dict[str, float]:
    """ifid's figures with KID in the place of the Frechet distance: unbiased for classes of few images."""
    return _per_class(evaluator, metric, drawn, tables, kernel=True)


def _per_class(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples", tables: Tables,
               kernel: bool) -> Dict[str, float]:
    example_labels, parents = evaluator.example_classes()
    generated = drawn.read(metric)[-1]  # pool_3 of the Inception outputs, or the probe's features
    if metric_names.INCEPTION in metric.kind.needs:
        real = evaluator.real("train").features(len(evaluator.data))
    else:
        real = builtin_quality.features(evaluator.data.images)
    tables[metric.name] = per_class.class_figures(generated, real, example_labels, parents, kernel)
    return per_class.summary(metric.name, tables[metric.name])


def builtin_quality_figures(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples",
                            tables: Tables) -> Dict[str, float]:
    appearance = evaluator.data.appearance
    probe = builtin_quality.QualityProbe(appearance.colour, appearance.kind, evaluator.example_classes, metric.samples,
                                         labels_carry_kind=appearance.labels_carry_kind)
    return {metric.name + "/" + key: value for key, value in probe.measure(drawn.source, drawn.seed).items()}


def builtin_fid(evaluator: "Evaluator", metric: Metric, drawn: "DrawnSamples", tables: Tables) -> Dict[str, float]:
    real = builtin_quality.features(evaluator.data.images[:metric.samples])
    return {metric.name: builtin_quality.feature_distance(real, drawn.read(metric)[0])}
