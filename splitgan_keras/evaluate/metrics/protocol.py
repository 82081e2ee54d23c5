"""What a figure was computed on, stated beside it, so that two figures made by different protocols
are never taken for one another: the sample count and how the samples were drawn, the reference
images (split and count), the feature network (the Inception module's SHA-256, the resizer), the
metric's own conventions (IS splits, KID kernel, k of precision and recall), the seed, the
generator and the software. `id` is a hash of all of it but the generator: two figures with one
name and one id were computed alike (docs/evaluation.md describes the layout).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
from typing import Any, Dict, Mapping, Optional

from splitgan_keras import metric_names
from splitgan_keras.artefacts import sampling
from splitgan_keras.evaluate.metrics import inception
from splitgan_keras.metric_names import Metric

RESIZER = ("uint8 -> [-1, 1], then tf.compat.v1.image.resize_bilinear to %dx%d (align_corners=False), as the "
           "2015 graph of the OpenAI Inception Score" % (inception.IMAGE_SIZE, inception.IMAGE_SIZE))
PROBE = "the built-in probe's 8 features per image (evaluate/metrics/builtin_quality.features)"

def software() -> Dict[str, str]:
    """The installed versions of what computes the figures."""
    versions = {}
    for name in ("tensorflow", "tensorflow-gan", "scikit-learn", "splitgan-keras"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
            versions[name] = "not installed"
    return versions


def describe(metric: Metric, seed: int, reference: Optional[Mapping[str, Any]], inception_handle: Optional[str],
             generator: Mapping[str, Any]) -> Dict[str, Any]:
    """The protocol of one figure.

    Args:
      metric: the parsed metric name.
      seed: the seed of the samples' noise and labels.
      reference: {"split": "train" or "test", "data": what the images are, "images": how many were
        used}, or None for a metric without reference images (IS, builtin_quality).
      inception_handle: the Inception module, when the metric uses it.
      generator: what made the samples ({"checkpoint": path, "iteration": N}, {"export": path}, ...).
    """
    drawn = ("%d of every class" % metric.samples if metric.kind.per_class
             else "%d with labels uniform over the active classes" % metric.samples)
    record: Dict[str, Any] = {
        "metric": metric.name, "samples": metric.samples, "samples_drawn": drawn,
        "sample_batch": sampling.SAMPLE_BATCH, "seed": seed, "reference": dict(reference) if reference else None}
    if metric_names.INCEPTION in metric.kind.needs:
        record["features"] = {"network": "tfgan's Inception module (pool_3, logits)", "module": inception_handle,
                              "sha256": inception.module_sha256(inception_handle), "resizer": RESIZER}
    elif metric_names.APPEARANCE in metric.kind.needs:
        record["features"] = {"network": PROBE}
    record.update(metric.kind.conventions)
    record["software"] = software()
    record["id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    record["generator"] = dict(generator)
    return record
