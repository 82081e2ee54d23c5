"""The split wing's pure parts: feature normalisation, the rule, tree allocation, the hierarchy,
capacity checks and sub-class recovery."""
import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras.errors import UserError
from splitgan_keras.models import hierarchy
from splitgan_keras.models.class_state import initial_tree
from splitgan_keras.split import allocation, features, recovery, rule


def test_batch_normalisation_is_tf_l2_normalize_over_each_group():
    values = np.random.default_rng(0).normal(size=(21, 5)).astype(np.float32)
    out = features.normalize(values, batch_size=8)
    for start in (0, 8, 16):  # the last group has 5 rows and is normalised too
        group = values[start:start + 8]
        np.testing.assert_allclose(out[start:start + 8], tf.nn.l2_normalize(group, 0).numpy(), rtol=1e-6)
    assert out.dtype == np.float64
    per_image = features.normalize(values, 8, mode="image")
    np.testing.assert_allclose(np.linalg.norm(per_image, axis=1), 1.0, rtol=1e-6)


def _two_blobs(rng, n, centre_a, centre_b):
    """n points around each of two centres; returns features and the true blob of each point."""
    truth = np.repeat([0, 1], n)
    centres = np.array([centre_a, centre_b], np.float64)
    return centres[truth] + 0.05 * rng.normal(size=(2 * n, len(centre_a))), truth


def test_two_means_rule_separates_planted_blobs():
    rng = np.random.default_rng(1)
    f0, truth0 = _two_blobs(rng, 30, [1, 0, 0], [0, 1, 0])
    f1, truth1 = _two_blobs(rng, 30, [0, 0, 1], [1, 1, 1])
    labels = np.repeat([0, 1], 60)
    plan = rule.TwoMeansRule(split_above=10, seed=0).plan(np.concatenate([f0, f1]), labels, 2)
    assert plan.parent_of_child.tolist() == [0, 1] and plan.classes_after(2) == 4
    rule.check_plan(plan, labels, 2)
    for parent, child, truth in ((0, 2, truth0), (1, 3, truth1)):
        clusters = plan.labels[labels == parent]
        assert set(clusters) == {parent, child}
        assert abs(np.corrcoef(clusters, truth)[0, 1]) == pytest.approx(1.0)  # the blobs, exactly
    assert set(plan.measures) == {0, 1} and plan.measures[0]["kmeans_inertia"] > 0


def test_allocation_is_the_originals_for_one_child_per_class():
    tree = initial_tree(2, 16)
    after = allocation.allocate(tree, 2, np.array([0, 1]))
    expected = np.zeros((16, 16), np.float32)
    expected[0, [0, 3]] = expected[1, [1, 5]] = 1  # parents: own slot + slot a+1
    expected[2, [0, 2]] = expected[3, [1, 4]] = 1  # children: parent's old row + slot a
    np.testing.assert_array_equal(after, expected)
    np.testing.assert_array_equal(tree, initial_tree(2, 16))  # input untouched
    # The original's decoder (TF1 checkpoints store no parents) reads the same hierarchy back.
    assert allocation.parents_from_original_tree(after, 4, 2).tolist() == [-1, -1, 0, 1]


def test_allocation_of_several_children_of_one_class():
    after = allocation.allocate(initial_tree(2, 16), 2, np.array([1, 1]))  # class 1 in three
    assert np.flatnonzero(after[2]).tolist() == [1, 2] and np.flatnonzero(after[3]).tolist() == [1, 3]
    assert np.flatnonzero(after[1]).tolist() == [1, 4] and np.flatnonzero(after[0]).tolist() == [0]
    assert len({tuple(row) for row in after[:4]}) == 4  # every class its own row


def test_classes_at_or_below_the_threshold_stay_whole():
    rng = np.random.default_rng(2)
    values = np.concatenate([_two_blobs(rng, 10, [1, 0], [0, 1])[0], _two_blobs(rng, 11, [1, 0], [0, 1])[0]])
    labels = np.repeat([0, 1], [20, 22])
    plan = rule.TwoMeansRule(split_above=20, seed=0).plan(values, labels, 2)
    assert plan.parent_of_child.tolist() == [1]  # 20 images is not more than 20; 22 is
    np.testing.assert_array_equal(plan.labels[:20], 0)
    assert set(plan.measures) == {1}


def test_rule_is_deterministic_in_its_seed():
    values = np.random.default_rng(3).normal(size=(80, 4))
    a, b = (rule.TwoMeansRule(10, seed=5).plan(values, np.zeros(80, int), 1) for _ in range(2))
    np.testing.assert_array_equal(a.labels, b.labels)


def test_plans_that_cannot_be_applied_are_refused():
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="split from classes 0..1"):
        rule.check_plan(rule.SplitPlan(np.array([0, 2, 1, 1]), np.array([5])), labels, 2)
    with pytest.raises(ValueError, match="only move from its class to a new child"):
        rule.check_plan(rule.SplitPlan(np.array([0, 2, 1, 1]), np.array([1])), labels, 2)
    with pytest.raises(ValueError, match="labels 3 examples"):
        rule.check_plan(rule.SplitPlan(np.array([0, 0, 1]), np.array([], np.int32)), labels, 2)


def test_hierarchy_of_repeated_splits():
    rng = np.random.default_rng(4)
    tree, labels, parents = initial_tree(1, 64), np.zeros(400, int), np.array([-1])
    two_means = rule.TwoMeansRule(10, seed=0)
    for _ in range(3):
        plan = two_means.plan(rng.normal(size=(400, 3)), labels, len(parents))
        tree = allocation.allocate(tree, len(parents), plan.parent_of_child)
        labels, parents = plan.labels, np.concatenate([parents, plan.parent_of_child])
    assert parents.tolist() == [-1, 0, 0, 1, 0, 1, 2, 3]
    assert allocation.parents_from_original_tree(tree, 8, 1).tolist() == parents.tolist()
    text = hierarchy.describe(parents, np.bincount(labels, minlength=8))
    assert text.splitlines()[0].startswith("0: ") and "\n    1: " in text and "\n        3: " in text
    assert [c for c, _ in hierarchy.tree_order(parents)] == [0, 1, 3, 7, 5, 2, 6, 4]
    assert hierarchy.made_by_splits(np.array([-1, -1, 0])).tolist() == [True, False, True]


def test_capacity_checks():
    allocation.check_schedule(10, 1, 1, 512)
    allocation.check_schedule(1, 5, 1, 512)   # unsupervised CIFAR-10: at most 32 classes, 63 slots
    allocation.check_schedule(1, 8, 1, 512)   # 256 classes, 511 slots
    with pytest.raises(UserError, match="--split-at .*9 split rounds.*512 classes and 1023 class-tree slots"):
        allocation.check_schedule(1, 9, 1, 512)
    with pytest.raises(UserError, match="5 split rounds"):
        allocation.check_schedule(10, 5, 1, 512)
    allocation.check_schedule(1, 5, 2, 512)  # three-way: 243 classes, 364 slots
    with pytest.raises(UserError, match="6 split rounds.*729 classes and 1093 class-tree slots"):
        allocation.check_schedule(1, 6, 2, 512)
    with pytest.raises(UserError, match="needs 9 classes and 13 class-tree slots, more than the 8"):
        allocation.allocate(initial_tree(4, 8), 4, np.array([0, 1, 2, 3, 0]))


def test_subclass_recovery_scores():
    before = np.zeros(8, int)
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = recovery.subclass_recovery(before, rule.SplitPlan(np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0])),
                                         1, truth)
    assert perfect == {0: {"children": [1], "ari": 1.0, "purity": 1.0}}
    mixed = recovery.subclass_recovery(before, rule.SplitPlan(np.array([0, 1, 0, 1, 0, 1, 0, 1]), np.array([0])),
                                       1, truth)
    assert mixed[0]["purity"] == 0.5 and mixed[0]["ari"] < 0.1


def test_a_partition_is_scored_as_a_whole_against_each_truth():
    groups = np.repeat(np.arange(4), 5)  # 4 groups of 5
    perfect = recovery.partition_scores(groups + 7, {"g": groups})["g"]  # any class numbers
    assert perfect == {"ari": 1.0, "nmi": pytest.approx(1.0), "purity": 1.0, "groups": 4}
    halves = recovery.partition_scores(groups // 2, {"g": groups})["g"]  # pairs of groups merged
    assert halves["purity"] == 0.5 and 0 < halves["ari"] < 1 and 0 < halves["nmi"] < 1
    one_class = recovery.partition_scores(np.zeros(20, int), {"g": groups})["g"]
    assert one_class["ari"] == 0.0 and one_class["nmi"] == pytest.approx(0.0) and one_class["purity"] == 0.25
    assert recovery.describe({"colours": perfect}) == ("against the colours (4): adjusted Rand index 1.000, NMI 1.000, "
                                                       "purity 1.000")
