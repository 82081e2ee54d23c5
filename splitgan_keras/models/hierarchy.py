"""Reading a class hierarchy (the parent of every class, models/class_state.py): tree order,
which classes splits made, majorities per class, and its text form."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


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


def describe(parents: np.ndarray, sizes: np.ndarray) -> str:
    """Readable text of the class tree, one class per line, children indented under parents.

    Args:
      parents: int [C], the parent of every class; sizes: int [C] examples per class.
    """
    lines = ["%s%d: %d images" % ("    " * depth, c, sizes[c]) for c, depth in tree_order(parents)]
    return "\n".join(lines) + "\n"
