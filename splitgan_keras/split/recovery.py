"""How well splits find what the data set hides (the built-in data, unsupervised runs): per split class against
its hidden sub-classes, and the whole partition against the hidden groups and what the images show."""
from __future__ import annotations

from typing import Dict

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from splitgan_keras.data.image_data import ImageData
from splitgan_keras.split.rule import SplitPlan

# The truths a partition is scored against, by name: the hidden groups, and the two things the built-in images show.
GROUPS, COLOUR, KIND = "hidden groups", "colours", "kinds"


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
        children = classes_before + np.flatnonzero(plan.parent_of_child == parent)
        result[int(parent)] = {"children": [int(c) for c in children],
                               "ari": float(adjusted_rand_score(hidden, clusters)),
                               "purity": _purity(clusters, hidden)}
    return result


def mean(recovery: dict, key: str) -> float:
    """The mean of "ari" or "purity" over the split classes."""
    return float(np.mean([r[key] for r in recovery.values()]))


def hidden_truths(data: ImageData) -> Dict[str, np.ndarray]:
    """What a partition of `data` can be scored against, int [N] each: for a data set that knows what its images
    show, the groups (colour x kind: 20 for the built-in one), the colours and the kinds; for an unsupervised run of
    another data set, its dropped labels as the groups; else nothing."""
    if data.appearance is not None:
        shown = data.appearance
        return {GROUPS: shown.groups(), COLOUR: shown.colour, KIND: shown.kind}
    if data.num_classes == 1 and data.subclasses is not None:
        return {GROUPS: data.subclasses}
    return {}


def partition_scores(labels: np.ndarray, truths: Dict[str, np.ndarray]) -> Dict[str, Dict[str, float]]:
    """The partition `labels` (int [N], the class of every example) against each truth (hidden_truths):
    {truth: {"ari": adjusted Rand index, "nmi": normalised mutual information (arithmetic mean), "purity": the
    share of examples in their class's most common group, "groups": how many groups the truth has}}."""
    return {name: {"ari": float(adjusted_rand_score(truth, labels)),
                   "nmi": float(normalized_mutual_info_score(truth, labels)),
                   "purity": _purity(labels, truth), "groups": int(len(np.unique(truth)))}
            for name, truth in truths.items()}


def describe(scores: Dict[str, Dict[str, float]]) -> str:
    """ "against the hidden groups: adjusted Rand index 0.512, NMI 0.803, purity 0.711" and the other truths."""
    return "; ".join("against the %s (%d): adjusted Rand index %.3f, NMI %.3f, purity %.3f"
                     % (name, s["groups"], s["ari"], s["nmi"], s["purity"]) for name, s in scores.items())


def _purity(clusters: np.ndarray, truth: np.ndarray) -> float:
    """The share of examples whose cluster's most common truth value is theirs."""
    clusters, truth = np.asarray(clusters), np.asarray(truth)
    majority = sum(np.bincount(truth[clusters == c]).max() for c in np.unique(clusters))
    return float(majority) / len(clusters)
