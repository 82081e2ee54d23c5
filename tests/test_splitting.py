"""The split plan in numpy: normalisation, k-means decisions, tree growth, hierarchy, capacity."""
import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras import networks, splitting
from splitgan_keras.errors import UserError


def test_batch_normalisation_is_tf_l2_normalize_over_each_group():
    features = np.random.default_rng(0).normal(size=(21, 5)).astype(np.float32)
    out = splitting.normalize_features(features, group_size=8)
    for start in (0, 8, 16):  # the last group has 5 rows and is normalised too
        group = features[start:start + 8]
        np.testing.assert_allclose(out[start:start + 8], tf.nn.l2_normalize(group, 0).numpy(), rtol=1e-6)
    assert out.dtype == np.float64
    per_image = splitting.normalize_features(features, 8, mode="image")
    np.testing.assert_allclose(np.linalg.norm(per_image, axis=1), 1.0, rtol=1e-6)


def _two_blobs(rng, n, centre_a, centre_b):
    """n points around each of two centres; returns features and the true blob of each point."""
    truth = np.repeat([0, 1], n)
    centres = np.array([centre_a, centre_b], np.float64)
    return centres[truth] + 0.05 * rng.normal(size=(2 * n, len(centre_a))), truth


def test_plan_separates_planted_blobs_and_grows_the_tree():
    rng = np.random.default_rng(1)
    f0, truth0 = _two_blobs(rng, 30, [1, 0, 0], [0, 1, 0])
    f1, truth1 = _two_blobs(rng, 30, [0, 0, 1], [1, 1, 1])
    features = np.concatenate([f0, f1])
    labels = np.repeat([0, 1], 60)
    tree = networks.initial_tree(2, 16)
    plan = splitting.plan_split(features, labels, 2, tree, min_class_size=10, seed=0)
    assert plan.num_classes == 4 and plan.children.tolist() == [2, 3]
    for parent, truth in ((0, truth0), (1, truth1)):
        clusters = plan.labels[labels == parent]
        assert set(clusters) == {parent, plan.children[parent]}
        assert abs(np.corrcoef(clusters, truth)[0, 1]) == pytest.approx(1.0)  # the blobs, exactly
    expected = np.zeros((16, 16), np.float32)
    expected[0, [0, 3]] = expected[1, [1, 5]] = 1  # parents: own slot + slot a+1
    expected[2, [0, 2]] = expected[3, [1, 4]] = 1  # children: parent's old row + slot a
    np.testing.assert_array_equal(plan.tree, expected)
    np.testing.assert_array_equal(tree, networks.initial_tree(2, 16))  # input untouched


def test_classes_at_or_below_the_threshold_stay_whole():
    rng = np.random.default_rng(2)
    features = np.concatenate([_two_blobs(rng, 10, [1, 0], [0, 1])[0], _two_blobs(rng, 11, [1, 0], [0, 1])[0]])
    labels = np.repeat([0, 1], [20, 22])
    plan = splitting.plan_split(features, labels, 2, networks.initial_tree(2, 8), min_class_size=20, seed=0)
    assert plan.children.tolist() == [-1, 2]  # 20 images is not more than 20; 22 is
    np.testing.assert_array_equal(plan.labels[:20], 0)
    assert np.isnan(plan.inertia[0]) and plan.inertia[1] > 0


def test_plan_is_deterministic_in_its_seed():
    features = np.random.default_rng(3).normal(size=(80, 4))
    labels = np.zeros(80, int)
    a = splitting.plan_split(features, labels, 1, networks.initial_tree(1, 8), 10, seed=5)
    b = splitting.plan_split(features, labels, 1, networks.initial_tree(1, 8), 10, seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_hierarchy_is_derived_from_repeated_splits():
    rng = np.random.default_rng(4)
    tree, labels, num_classes = networks.initial_tree(1, 64), np.zeros(400, int), 1
    expected_parents = [-1]
    for _ in range(3):
        plan = splitting.plan_split(rng.normal(size=(400, 3)), labels, num_classes, tree, 10, seed=0)
        expected_parents += [int(np.flatnonzero(plan.children == j)[0]) for j in range(num_classes, plan.num_classes)]
        tree, labels, num_classes = plan.tree, plan.labels, plan.num_classes
    assert num_classes == 8
    parents = splitting.class_parents(tree, num_classes, initial_classes=1)
    assert parents.tolist() == expected_parents == [-1, 0, 0, 1, 0, 1, 2, 3]
    text = splitting.describe_hierarchy(parents, np.bincount(labels, minlength=8))
    assert text.splitlines()[0].startswith("0: ") and "\n    1: " in text and "\n        3: " in text


def test_capacity_check():
    splitting.check_capacity(10, 1, 512)
    splitting.check_capacity(1, 5, 512)   # unsupervised CIFAR-10: at most 32 classes, 63 slots
    splitting.check_capacity(1, 8, 512)   # 256 classes, 511 slots
    with pytest.raises(UserError, match="--split-at .*9 split rounds.*512 classes and 1023 class-tree slots"):
        splitting.check_capacity(1, 9, 512)
    with pytest.raises(UserError, match="5 split rounds"):
        splitting.check_capacity(10, 5, 512)


def test_subclass_recovery_scores():
    before = np.zeros(8, int)
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = splitting.subclass_recovery(before, np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([1]), truth)
    assert perfect == {0: {"child": 1, "ari": 1.0, "purity": 1.0}}
    mixed = splitting.subclass_recovery(before, np.array([0, 1, 0, 1, 0, 1, 0, 1]), np.array([1]), truth)
    assert mixed[0]["purity"] == 0.5 and mixed[0]["ari"] < 0.1
