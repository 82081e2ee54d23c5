"""Tree allocation: the class tree after a split, derived from the plan's parent of each new class.

Slots (tree columns) are allocated in order. For each split class p, in the order of its first new
class: each child c of p gets a copy of p's row plus the next free slot, then p gets the next free
slot. With one child per class this is the original's rule (child slot a, parent slot a + 1).
The new slots' parameter rows have never been used, so they are still zero and every child starts
out generating exactly what its parent does.
"""
from __future__ import annotations

import numpy as np

from splitgan_keras.errors import UserError


def used_slots(tree: np.ndarray) -> int:
    """Number of tree columns allocated so far (they are allocated in order)."""
    used = np.flatnonzero(np.any(tree != 0, axis=0))
    return int(used[-1]) + 1 if used.size else 0


def slots_needed(parent_of_child: np.ndarray) -> int:
    """Slots a split takes: one per new class and one per split class."""
    return len(parent_of_child) + len(np.unique(parent_of_child))


def check_room(tree: np.ndarray, classes_before: int, parent_of_child: np.ndarray) -> None:
    """Raises UserError when the tree has too few classes or slots left for the split."""
    classes, slots = classes_before + len(parent_of_child), used_slots(tree) + slots_needed(parent_of_child)
    if classes > tree.shape[0] or slots > tree.shape[1]:
        raise UserError("the split needs %d classes and %d class-tree slots, more than the %d there are"
                        % (classes, slots, tree.shape[1]))


def allocate(tree: np.ndarray, classes_before: int, parent_of_child: np.ndarray) -> np.ndarray:
    """The tree after a split.

    Args:
      tree: float32 [M, M], the tree before (not modified).
      classes_before: active classes before the split.
      parent_of_child: int [K], the parent of new class classes_before + k (SplitPlan).

    Returns:
      float32 [M, M].
    """
    check_room(tree, classes_before, parent_of_child)
    tree = np.array(tree, np.float32, copy=True)
    next_slot = used_slots(tree)
    children = {}  # parent -> its new classes, parents in the order of their first child
    for k, parent in enumerate(np.asarray(parent_of_child).tolist()):
        children.setdefault(parent, []).append(classes_before + k)
    for parent, new_classes in children.items():
        for child in new_classes:
            tree[child] = tree[parent]
            tree[child, next_slot] = 1.0
            next_slot += 1
        tree[parent, next_slot] = 1.0
        next_slot += 1
    return tree


def check_schedule(initial_classes: int, rounds: int, max_new_per_class: int, max_classes: int) -> None:
    """Raises UserError when `rounds` splits of a rule that gives each class at most
    `max_new_per_class` children could need more classes or tree slots than there are."""
    classes, slots = initial_classes, initial_classes
    for _ in range(rounds):
        slots += classes * (max_new_per_class + 1)
        classes *= max_new_per_class + 1
    if slots > max_classes:
        raise UserError(
            "--split-at (split.split_at) has %d split rounds: starting from %d class(es), they could need %d "
            "classes and %d class-tree slots, more than the %d there are; schedule fewer rounds"
            % (rounds, initial_classes, classes, slots, max_classes))


def parents_from_original_tree(tree: np.ndarray, active: int, initial_classes: int) -> np.ndarray:
    """The parent of every class of a tree written by the original's allocation, which stores no
    parents (TF1 checkpoints): class j >= initial_classes was created with child slot a = the largest
    slot of its row of the form initial_classes + 2k; its parent received slot a + 1 at that split
    and is the lowest-numbered class holding it (the parent's later children have higher numbers).

    Returns:
      int32 [active], -1 for the initial classes.
    """
    if active < initial_classes:
        raise ValueError("%d active classes, fewer than the %d it started from" % (active, initial_classes))
    parents = np.full(active, -1, np.int32)
    for j in range(initial_classes, active):
        slots = np.flatnonzero(tree[j])
        child_slots = slots[(slots >= initial_classes) & ((slots - initial_classes) % 2 == 0)]
        if not child_slots.size:
            raise ValueError("class %d has no child slot: the tree is not one of the original's" % j)
        parents[j] = np.flatnonzero(tree[:active, child_slots.max() + 1]).min()
    return parents
