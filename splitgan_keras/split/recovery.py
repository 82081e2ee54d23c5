"""How well a split separates hidden ground-truth sub-classes (the built-in data, unsupervised runs)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from splitgan_keras.split.rule import SplitPlan


def subclass_recovery(labels_before: np.ndarray, plan: SplitPlan, classes_before: int, truth: np.ndarray) -> dict:
    """Args:
      labels_before: int [N] classes before the split; plan: the split applied.
      truth: int [N] hidden sub-class of every example.

    Returns:
      {split class: {"children": [new classes], "ari": adjusted Rand index, "purity": purity}}.
    """
    result = {}
    for parent in plan.split_classes():
        members = labels_before == parent
        clusters, hidden = plan.labels[members], truth[members]
        majority = sum(np.bincount(hidden[clusters == c]).max() for c in np.unique(clusters))
        children = classes_before + np.flatnonzero(plan.parent_of_child == parent)
        result[int(parent)] = {"children": [int(c) for c in children],
                               "ari": float(adjusted_rand_score(hidden, clusters)),
                               "purity": float(majority) / len(clusters)}
    return result


def mean(recovery: dict, key: str) -> float:
    """The mean of "ari" or "purity" over the split classes."""
    return float(np.mean([r[key] for r in recovery.values()]))
