"""What a figure was computed on, stated beside it, so that two figures made by different protocols
are never taken for one another: the sample count and how the samples were drawn, the reference
images (split, count, content hash), the feature network (the Inception module's SHA-256 and what it
is known to be, the resizer), the metric's own conventions (IS splits, KID kernel, k of precision and
recall), the seed, the generator (with its files' SHA-256), the software and the code (version, files'
SHA-256, commit). `id` is a hash of all of it but the generator: two figures with one name and one id
were computed alike (docs/evaluation.md describes the layout).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
from typing import Any, Dict, Mapping, Optional

from splitgan_keras import files, metric_names
from splitgan_keras.artefacts import sampling
from splitgan_keras.evaluate.metrics import inception
from splitgan_keras.metric_names import Metric

OUTPUTS = "logits [N, %d] and pool_3 [N, %d]" % (inception.LOGIT_CLASSES, inception.POOL_FEATURES)
PROBE = "the built-in probe's 8 features per image (evaluate/metrics/builtin_quality.features)"

_CODE: Dict[str, Any] = {}  # this process's code does not change while it runs: described once


def code() -> Dict[str, Any]:
    """The code that computes the figures: the package's version, the SHA-256 of its Python files (what ties a
    figure to code when the package was installed), and, run from a git checkout, its commit and whether the
    package's files differ from it."""
    if not _CODE:
        package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        paths = [p for p in files.tree_files(package) if p.endswith(".py")]
        _CODE.update(version=software()["splitgan-keras"], files_sha256=files.content_sha256(paths, package))
        _CODE.update(_git(os.path.dirname(package), package))
    return dict(_CODE)


def _git(checkout: str, package: str) -> Dict[str, Any]:
    """{"commit": HEAD, "modified": bool} where `checkout` is a git work tree holding `package`, else {}."""
    def run(*args: str) -> str:
        return subprocess.run(("git", "-C", checkout) + args, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        if run("rev-parse", "--show-toplevel") != os.path.realpath(checkout):
            return {}  # installed inside some other repository's tree
        return {"commit": run("rev-parse", "HEAD"),
                "modified": bool(run("status", "--porcelain", "--untracked-files=no", "--", package))}
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout, or a git that hangs
        return {}


def software() -> Dict[str, str]:
    """The installed versions of what computes the figures."""
    versions = {}
    for name in ("tensorflow", "tf-keras", "tensorflow-gan", "scikit-learn", "splitgan-keras"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
            versions[name] = "not installed"
    return versions


def describe(metric: Metric, seed: int, reference: Optional[Mapping[str, Any]],
             network: Optional[Mapping[str, Any]], generator: Mapping[str, Any]) -> Dict[str, Any]:
    """The protocol of one figure.

    Args:
      metric: the parsed metric name.
      seed: the seed of the samples' noise and labels.
      reference: {"split": "train" or "test", "data": what the images are, "images": how many were
        used, "sha256": of their bytes (and "classes_sha256" of their classes, for a per-class metric)}, or
        None for a metric without reference images (IS, builtin_quality).
      network: the Inception module's identity (inception.InceptionNetwork.identity), when the metric uses it.
      generator: what made the samples ({"checkpoint": path, "iteration": N}, {"export": path}, ...).
    """
    drawn = ("%d of every class" % metric.samples if metric.kind.per_class
             else "%d with labels uniform over the active classes" % metric.samples)
    record: Dict[str, Any] = {
        "metric": metric.name, "samples": metric.samples, "samples_drawn": drawn,
        "sample_batch": sampling.SAMPLE_BATCH, "seed": seed, "reference": dict(reference) if reference else None}
    if metric_names.INCEPTION in metric.kind.needs:
        record["features"] = dict(network, outputs=OUTPUTS, resizer=inception.PREPROCESSING)
    elif metric_names.APPEARANCE in metric.kind.needs:
        record["features"] = {"network": PROBE}
    record.update(metric.kind.conventions)
    record["software"] = software()
    record["code"] = code()
    record["id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    record["generator"] = dict(generator)
    return record
