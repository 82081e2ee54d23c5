"""Parity of one class split with the original code (golden split/ set)."""
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from golden_sets import GoldenSet, golden_dirs, nhwc
from splitgan_keras.artefacts import tf1_import
from splitgan_keras.models import optimizers
from splitgan_keras.split import allocation, features as features_lib, recovery, rule, surgery


@pytest.fixture(scope="module", params=[d for d in golden_dirs() if os.path.isdir(os.path.join(d, "split"))],
                ids=lambda p: p.rsplit("/", 1)[-1])
def golden(request):
    return GoldenSet(request.param)


def _head_state(gan):
    kernel, bias = gan.critic.class_head.kernel, gan.critic.class_head.bias
    slot = lambda v, n: optimizers.slot(gan.d_optimizer, v, n).numpy()
    # TF1 layout: weights and their slots [classes, features].
    return {"acgan_W": kernel.numpy().T, "acgan_b": bias.numpy(),
            "acgan_W_adam_m": slot(kernel, "m").T, "acgan_W_adam_v": slot(kernel, "v").T,
            "acgan_b_adam_m": slot(bias, "m"), "acgan_b_adam_v": slot(bias, "v")}


def _named_state(gan):
    """Every value the original's split could touch, by TF1 name (class state, parameters and Adam
    slots), as functions that read it."""
    state = gan.generator.class_state
    named = {tf1_import.TREE_NAME: state.tree, tf1_import.NUM_CLASSES_NAME: state.num_active}
    for entries, opt in ((tf1_import.generator_entries(gan.generator), gan.g_optimizer),
                         (tf1_import.critic_entries(gan.critic), gan.d_optimizer)):
        for name, variable, _ in entries:
            named[name] = variable.numpy
            named[name + "/Adam"] = optimizers.slot(opt, variable, "m").numpy
            named[name + "/Adam_1"] = optimizers.slot(opt, variable, "v").numpy
    return named


def _parent_of_child(new_classes):
    """The golden set's new class of every class (-1: not split) as SplitPlan.parent_of_child."""
    parents = np.flatnonzero(new_classes >= 0)
    return parents[np.argsort(new_classes[parents])].astype(np.int32)


def _numbered_as(labels, reference, labels_before, parent_of_child, classes_before):
    """`labels` with each split class's two clusters numbered as in `reference`.

    Which of the two k-means clusters is cluster 0 (it keeps the parent's label) differs between
    scikit-learn versions for the same data and seed; the partition itself must not. Fails unless
    every split class is divided into exactly the same two groups of images as in `reference`.
    """
    numbered = np.array(labels, copy=True)
    for k, parent in enumerate(parent_of_child):
        child, members = classes_before + k, labels_before == parent
        ours, theirs = numbered[members], reference[members]
        if not np.array_equal(ours, theirs):
            swapped = np.where(ours == parent, child, parent)
            np.testing.assert_array_equal(swapped, theirs, err_msg="class %d is split into other groups" % parent)
            numbered[members] = swapped
    np.testing.assert_array_equal(numbered, reference)
    return numbered


def _generate(gan, noise, label):
    return gan.generator(tf.constant(noise), tf.fill([len(noise)], label)).numpy()


def test_split_matches_the_original(golden):
    gan, inputs, expected = golden.build_presplit()
    images = nhwc(inputs["images"])
    noise = nhwc(inputs["dequant_noise"].astype(np.float32))
    checks = json.load(open(os.path.join(golden.path, "split", "checks.json")))
    parent, child, other = (int(expected[k]) for k in ("parent_class", "child_class", "other_class"))
    fixed_noise = expected["fixed_noise"]

    head_before = _head_state(gan)
    for key, value in head_before.items():
        np.testing.assert_array_equal(value, expected[key + "_before"], err_msg=key)
    np.testing.assert_array_equal(gan.generator.class_state.tree(), expected["tree_before"])
    generated_before = {c: _generate(gan, fixed_noise, c) for c in (parent, child, other)}
    for c, key in ((parent, "gen_parent_before"), (child, "gen_child_before"), (other, "gen_other_before")):
        np.testing.assert_allclose(generated_before[c], nhwc(expected[key]), atol=2e-5, rtol=0)

    features = features_lib.FeaturePass(gan.critic, golden.seed)(images, 0, noise)
    np.testing.assert_allclose(features, expected["features_raw"], atol=2e-5, rtol=0)
    normalised = features_lib.normalize(features, int(inputs["batch_size"]))
    np.testing.assert_allclose(normalised, expected["features_normalised"], atol=1e-5, rtol=0)

    classes_before = golden.num_classes
    two_means = rule.TwoMeansRule(split_above=20, seed=golden.seed)  # the golden run's: more than 20 images
    plan = two_means.plan(normalised, inputs["labels_before"], classes_before)
    np.testing.assert_array_equal(plan.parent_of_child, _parent_of_child(expected["new_classes"]))
    np.testing.assert_array_equal(plan.parent_of_child, _parent_of_child(np.array(checks["new_classes"])))
    plan = dataclasses.replace(plan, labels=_numbered_as(plan.labels, expected["labels_after"], inputs["labels_before"],
                                                         plan.parent_of_child, classes_before))
    assert plan.classes_after(classes_before) == int(expected["n_classes_after"])
    tree_after = allocation.allocate(gan.generator.class_state.tree(), classes_before, plan.parent_of_child)
    np.testing.assert_array_equal(tree_after, expected["tree_after"])

    named = _named_state(gan)
    before = {name: np.array(read(), copy=True) for name, read in named.items()}
    surgery.apply_split(plan, tree_after, gan)
    changed = {name for name, read in named.items() if not np.array_equal(read(), before[name])}
    assert changed == set(checks["variables_changed_by_split"])
    for key, value in _head_state(gan).items():
        np.testing.assert_array_equal(value, expected[key + "_after"], err_msg=key)
    assert gan.generator.class_state.num_active() == int(expected["n_classes_after"])
    np.testing.assert_array_equal(gan.generator.class_state.parents()[classes_before:], plan.parent_of_child)
    np.testing.assert_array_equal(gan.example_labels.numpy(), expected["labels_after"])

    parent_after, child_after = _generate(gan, fixed_noise, parent), _generate(gan, fixed_noise, child)
    np.testing.assert_array_equal(child_after, parent_after)  # bit for bit: the new slots are zero
    np.testing.assert_array_equal(parent_after, generated_before[parent])
    np.testing.assert_array_equal(_generate(gan, fixed_noise, other), generated_before[other])
    np.testing.assert_allclose(parent_after, nhwc(expected["gen_parent_after"]), atol=2e-5, rtol=0)


def test_split_recovery_matches_the_recorded_figures(golden):
    gan, inputs, expected = golden.build_presplit()
    plan = rule.SplitPlan(expected["labels_after"], _parent_of_child(expected["new_classes"]))
    found = recovery.subclass_recovery(inputs["labels_before"], plan, golden.num_classes, inputs["hidden_subclass"])
    readme = open(os.path.join(golden.path, "README.md")).read()
    recorded = readme.split("adjusted Rand index per class:")[1].split("\n")[0]
    figures = dict(item.strip().split(": ") for item in recorded.strip().rstrip(".").split(", "))
    for parent, stats in found.items():
        assert stats["ari"] == pytest.approx(float(figures[str(parent)]), abs=0.005)
