"""The split rule: which classes to split and how to divide their examples, from critic features.

A rule is pure (numpy and scikit-learn): features and labels in, a SplitPlan out. It knows nothing
of the class tree, the model or the records; tree allocation (allocation.py), surgery and records
follow from the plan alone, so another rule (a three-way split, only the largest class, another
clusterer) is a class with the same `plan` method and `max_new_per_class` attribute.
"""
from __future__ import annotations

import dataclasses
from typing import Dict

import numpy as np
from sklearn.cluster import KMeans


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """What a split changes in the class assignment.

    Attributes:
      labels: int32 [N], every example's class after the split.
      parent_of_child: int32 [K]: the class that new class `classes_before + k` is split from.
      measures: {split class: {name: value}}, what the rule reports about each split (e.g. the
        k-means inertia), written into the split record.
    """

    labels: np.ndarray
    parent_of_child: np.ndarray
    measures: Dict[int, Dict[str, float]] = dataclasses.field(default_factory=dict)

    def classes_after(self, classes_before: int) -> int:
        return classes_before + len(self.parent_of_child)

    def split_classes(self) -> np.ndarray:
        """int [S]: the classes that were split, ascending."""
        return np.unique(self.parent_of_child)


def check_plan(plan: SplitPlan, labels_before: np.ndarray, classes_before: int) -> None:
    """Raises ValueError unless the plan is one a split can apply: a label per example, new classes
    split from existing ones, and every example either kept or moved from its class to a child of it."""
    labels, parents = np.asarray(plan.labels), np.asarray(plan.parent_of_child)
    if labels.shape != np.shape(labels_before):
        raise ValueError("the plan labels %d examples, expected %d" % (labels.size, np.size(labels_before)))
    if parents.size and (parents.min() < 0 or parents.max() >= classes_before):
        raise ValueError("new classes must be split from classes 0..%d, got parents %s"
                         % (classes_before - 1, parents.tolist()))
    after = plan.classes_after(classes_before)
    if labels.size and (labels.min() < 0 or labels.max() >= after):
        raise ValueError("plan labels must lie in [0, %d)" % after)
    moved = labels != labels_before
    if np.any(labels[moved] < classes_before) or np.any(
            parents[labels[moved] - classes_before] != np.asarray(labels_before)[moved]):
        raise ValueError("an example may only move from its class to a new child of that class")


@dataclasses.dataclass(frozen=True)
class TwoMeansRule:
    """The original's rule: every class with more than `split_above` examples is split in two
    by 2-means on its examples' features.

    Classes are visited in order. For class i, cluster 0 keeps label i and cluster 1 becomes the
    next new class, as in the original. k-means uses the 2017 scikit-learn defaults the original
    ran with (n_init=10), seeded with `seed` before every class.
    """

    split_above: int
    seed: int
    max_new_per_class = 1  # the most children one class can get in one split

    def plan(self, features: np.ndarray, labels: np.ndarray, classes_before: int) -> SplitPlan:
        """features float64 [N, D] (features.normalize), labels int [N] in [0, classes_before)."""
        labels = np.asarray(labels)
        new_labels = labels.astype(np.int32).copy()
        parent_of_child, measures = [], {}
        for i in range(classes_before):
            members = np.flatnonzero(labels == i)
            if len(members) <= self.split_above:
                continue
            kmeans = KMeans(n_clusters=2, n_init=10, random_state=self.seed).fit(features[members])
            new_labels[members[kmeans.labels_ == 1]] = classes_before + len(parent_of_child)
            parent_of_child.append(i)
            measures[i] = {"kmeans_inertia": float(kmeans.inertia_)}
        return SplitPlan(new_labels, np.asarray(parent_of_child, np.int32), measures)


def from_config(split_cfg, seed: int) -> TwoMeansRule:
    """The rule a run's config asks for (config.SplitConfig; the k-means seed is the run's seed)."""
    return TwoMeansRule(split_cfg.split_above, seed)
