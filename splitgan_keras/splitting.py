"""The class-split decision, in numpy and scikit-learn only: what to split, and the new tree.

The class tree is a 0/1 matrix [MAX_CLASSES, MAX_CLASSES]: row y selects the conditional-BN
parameter slots (columns) of class y. Initially class i < n0 owns slot i. Each split of class i
allocates the next two slots a, a + 1: the child j gets a copy of row i plus slot a, the parent
gets slot a + 1. Both new slots' parameter rows have never been used, so they are still zero and
the child starts out generating exactly what its parent does.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np
from sklearn.cluster import KMeans

from splitgan_keras.errors import UserError

FEATURE_NORMS = ("batch", "image")
_L2_EPSILON = 1e-12  # tf.nn.l2_normalize's floor on the squared norm, as the original normalises


def check_capacity(initial_classes: int, num_splits: int, max_classes: int) -> None:
    """Raises UserError when a schedule could need more classes or tree slots than exist.

    In the worst case every split round doubles the classes; every new class costs two slots.
    """
    classes = initial_classes * 2 ** num_splits
    slots = initial_classes + 2 * (classes - initial_classes)
    if slots > max_classes:
        raise UserError(
            "--split-at (split.split_at) has %d split rounds: starting from %d class(es), they could need %d "
            "classes and %d class-tree slots (each split takes two), more than the %d there are; schedule fewer "
            "rounds" % (num_splits, initial_classes, classes, slots, max_classes))


def normalize_features(features: np.ndarray, group_size: int, mode: str = "batch") -> np.ndarray:
    """Normalises critic features for k-means.

    Args:
      features: float32 [N, D] in data-set order.
      group_size: `batch` mode: rows are normalised in consecutive groups of this many (the
        original's critic batch); the last, partial group too (the original left it at zero).
      mode: "batch": each feature column divided by its L2 norm over the group (the original's
        tf.nn.l2_normalize(features, 0)); "image": each row divided by its own L2 norm.

    Returns:
      float64 [N, D] (k-means runs in float64, as the original stored its features).
    """
    x = np.asarray(features, np.float32)
    if mode == "image":
        norms = np.sqrt(np.maximum(np.sum(x * x, axis=1, keepdims=True), _L2_EPSILON))
        return (x / norms).astype(np.float64)
    if mode != "batch":
        raise ValueError("unknown feature normalisation %r" % mode)
    out = np.empty_like(x)
    for start in range(0, len(x), group_size):
        group = x[start:start + group_size]
        inverse = 1.0 / np.sqrt(np.maximum(np.sum(group * group, axis=0, keepdims=True), _L2_EPSILON))
        out[start:start + group_size] = group * inverse
    return out.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """What a split changes.

    Attributes:
      labels: int32 [N], every example's class after the split.
      children: int32 [num_classes_before]: the new class split off class i, or -1.
      tree: float32 [M, M], the class tree after the split.
      num_classes: classes after the split.
      inertia: float64 [num_classes_before], k-means inertia of each split class (NaN if not split).
    """

    labels: np.ndarray
    children: np.ndarray
    tree: np.ndarray
    num_classes: int
    inertia: np.ndarray

    @property
    def num_new(self) -> int:
        return int(np.sum(self.children >= 0))


def used_slots(tree: np.ndarray) -> int:
    """Number of tree columns allocated so far (they are allocated in order)."""
    used = np.flatnonzero(np.any(tree != 0, axis=0))
    return int(used[-1]) + 1 if used.size else 0


def plan_split(features: np.ndarray, labels: np.ndarray, num_classes: int, tree: np.ndarray,
               min_class_size: int, seed: int) -> SplitPlan:
    """Splits every class with more than `min_class_size` examples in two by 2-means.

    Classes are visited in order. For class i, cluster 0 keeps label i and cluster 1 becomes the
    next free class, as in the original. k-means uses the 2017 scikit-learn defaults the original
    ran with (n_init=10), seeded with `seed` before every class.

    Args:
      features: float64 [N, D] normalised features, in data-set order.
      labels: int [N] current classes in [0, num_classes).
      num_classes: current number of classes.
      tree: [M, M] current class tree.
      min_class_size: classes with this many examples or fewer stay whole.
      seed: k-means random state.
    """
    labels = np.asarray(labels)
    new_labels = labels.astype(np.int32).copy()
    tree = np.array(tree, np.float32, copy=True)
    children = np.full(num_classes, -1, np.int32)
    inertia = np.full(num_classes, np.nan)
    next_class, next_slot = num_classes, used_slots(tree)
    for i in range(num_classes):
        members = np.flatnonzero(labels == i)
        if len(members) <= min_class_size:
            continue
        if next_class >= len(tree) or next_slot + 2 > tree.shape[1]:
            raise UserError("class %d cannot be split: all %d classes or tree slots are in use" % (i, len(tree)))
        kmeans = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(features[members])
        new_labels[members[kmeans.labels_ == 1]] = next_class
        tree[next_class] = tree[i]
        tree[next_class, next_slot] = 1.0
        tree[i, next_slot + 1] = 1.0
        children[i], inertia[i] = next_class, kmeans.inertia_
        next_class, next_slot = next_class + 1, next_slot + 2
    return SplitPlan(new_labels, children, tree, next_class, inertia)


def class_parents(tree: np.ndarray, num_classes: int, initial_classes: int) -> np.ndarray:
    """The class hierarchy, derived from the tree: parent of every class, -1 for the initial ones.

    A class j >= initial_classes was created with child slot a = the largest slot of its row of
    the form initial_classes + 2k; its parent received slot a + 1 at that split and is the
    lowest-numbered class holding it (the parent's later children all have higher numbers).

    Returns:
      int32 [num_classes].
    """
    parents = np.full(num_classes, -1, np.int32)
    for j in range(initial_classes, num_classes):
        slots = np.flatnonzero(tree[j])
        child_slots = slots[(slots >= initial_classes) & ((slots - initial_classes) % 2 == 0)]
        if not child_slots.size:
            raise ValueError("class %d has no child slot: the tree is not a class-splitting tree" % j)
        holders = np.flatnonzero(tree[:num_classes, child_slots.max() + 1])
        parents[j] = holders.min()
    return parents


def made_by_splits(parents: np.ndarray) -> np.ndarray:
    """bool [C]: the classes a split made or divided (every child and every parent)."""
    made = parents >= 0
    made[parents[made]] = True
    return made


def majority_per_class(values: np.ndarray, example_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """int [num_classes]: the most common of the non-negative int `values` [N] among the examples of
    each class (`example_labels` int [N]); -1 for a class without examples (a k-means cluster may
    come out empty)."""
    majority = np.full(num_classes, -1)
    for c in range(num_classes):
        members = example_labels == c
        if members.any():
            majority[c] = np.bincount(values[members]).argmax()
    return majority


def generator_parents(generator) -> np.ndarray:
    """class_parents of a Generator's current class state."""
    return class_parents(generator.class_tree.numpy(), int(generator.num_classes.numpy()), generator.initial_classes)


def subclass_recovery(labels_before: np.ndarray, labels_after: np.ndarray, children: np.ndarray,
                      truth: np.ndarray) -> dict:
    """How well each split separates hidden ground-truth sub-classes.

    Args:
      labels_before, labels_after: int [N] classes before and after the split.
      children: int [num_classes_before], from SplitPlan.
      truth: int [N] hidden sub-class of every example.

    Returns:
      {parent class: {"child": j, "ari": adjusted Rand index, "purity": purity}} for each split class.
    """
    from sklearn.metrics import adjusted_rand_score

    result = {}
    for parent in np.flatnonzero(children >= 0):
        members = labels_before == parent
        clusters, hidden = labels_after[members], truth[members]
        majority = sum(np.bincount(hidden[clusters == c]).max() for c in np.unique(clusters))
        result[int(parent)] = {"child": int(children[parent]), "ari": float(adjusted_rand_score(hidden, clusters)),
                               "purity": float(majority) / len(clusters)}
    return result


def tree_order(parents: np.ndarray) -> List[Tuple[int, int]]:
    """(class, depth) of every class, depth first: each class followed by its children."""
    order = []

    def visit(c: int, depth: int):
        order.append((c, depth))
        for child in np.flatnonzero(parents == c):
            visit(int(child), depth + 1)

    for root in np.flatnonzero(parents < 0):
        visit(int(root), 0)
    return order


def describe_hierarchy(parents: np.ndarray, sizes: np.ndarray, split_at: Optional[dict] = None) -> str:
    """Readable text of the class tree, one class per line, children indented under parents.

    Args:
      parents: int [C] from class_parents; sizes: int [C] examples per class.
      split_at: optional {child class: iteration of the split that created it}.
    """
    lines = []
    for c, depth in tree_order(parents):
        when = "  (split off at iteration %d)" % split_at[c] if split_at and c in split_at else ""
        lines.append("%s%d: %d images%s" % ("    " * depth, c, sizes[c], when))
    return "\n".join(lines) + "\n"
