"""The field's metrics beside IS and FID (KID, precision and recall), the figures per class and per
split, the protocol of every figure, and the hash that keys the cached real features."""
import dataclasses
import hashlib
import math
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from inception_standin import build as build_inception
from stand_in_sources import ImagesSource, Members, split_along_kinds
from splitgan_keras import inception_module, metric_names
from splitgan_keras.data import builtin_data
from splitgan_keras.evaluate.metrics import inception, per_class, real_features, registry, scores


def _activations(seed, n, d=16, shift=0.0, scale=1.0):
    return (np.random.default_rng(seed).normal(shift, scale, (n, d))).astype(np.float32)


def test_statistics_in_chunks_are_numpys(monkeypatch):
    a = _activations(0, 1000, 7)
    monkeypatch.setattr(scores, "STATISTICS_CHUNK", 64)
    mean, cov = scores.activation_statistics(a)
    np.testing.assert_allclose(mean, a.astype(np.float64).mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(a.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    real, generated = _activations(1, 300).astype(np.float64), _activations(2, 200, shift=0.3, scale=1.2)
    generated = generated.astype(np.float64)
    d = real.shape[1]

    def kernel(x, y):
        return (x @ y.T / d + 1) ** 3

    k_rr, k_gg, k_rg = kernel(real, real), kernel(generated, generated), kernel(real, generated)
    m, n = len(real), len(generated)
    expected = ((k_rr.sum() - np.trace(k_rr)) / (m * (m - 1)) + (k_gg.sum() - np.trace(k_gg)) / (n * (n - 1))
                - 2 * k_rg.mean())  # one block: fewer than tfgan's 1024 samples
    kid, se = scores.kernel_distance(real, generated)
    assert kid == pytest.approx(expected, rel=1e-4) and math.isnan(se)  # one block: no spread between blocks
    _, se = scores.kernel_distance(_activations(1, 2500), _activations(2, 2500, shift=0.3))
    assert 0 < se < 1  # three blocks
    same, _ = scores.kernel_distance(real[:150], real[150:])
    assert abs(same) < kid / 5


def _brute_precision_recall(real, generated, k):
    """Kynkaanniemi et al.'s definition, with every distance computed."""
    real_radii = np.sort(cdist(real, real), axis=1)[:, k]  # column 0: the point itself
    generated_radii = np.sort(cdist(generated, generated), axis=1)[:, k]
    precision = np.mean((cdist(generated, real) <= real_radii[None, :]).any(1))
    recall = np.mean((cdist(real, generated) <= generated_radii[None, :]).any(1))
    return precision, recall


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (0.0, 0.5), (0.0, 3.0), (1.5, 1.0)])
def test_precision_and_recall_match_their_definition(shift, scale):
    real, generated = _activations(3, 400), _activations(4, 300, shift=shift, scale=scale)
    ours = scores.precision_recall(real, generated)
    assert ours == _brute_precision_recall(real.astype(np.float64), generated.astype(np.float64), 3)
    if scale < 1:  # a narrow generator: precise, but it covers little of the real data
        assert ours[0] > 0.6 and ours[1] < 0.3
    assert scores.precision_recall(real, real) == (1.0, 1.0)


def _frechet(a, b):
    """FID from its definition, with scipy's matrix square root."""
    m_a, m_b = a.mean(0), b.mean(0)
    c_a, c_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((m_a - m_b) ** 2) + np.trace(c_a + c_b - 2 * scipy.linalg.sqrtm(c_a @ c_b).real))


def _child_drawing_its_siblings_cluster():
    """(generated [300, 4], real [600, 4], example labels [600], parents [3]): class 1 was split off class 0; class 0
    kept the cluster at 0, class 1 got the one at 5; class 1's samples come from class 0's cluster (it generates its
    sibling's images). 100 samples and 200 training images per class."""
    parents = np.array([-1, 0, -1])
    real = np.concatenate([_activations(5, 200, 4), _activations(6, 200, 4, shift=5),
                           _activations(7, 200, 4, shift=-5)])
    example_labels = np.repeat([0, 1, 2], 200)
    generated = np.concatenate([_activations(8, 100, 4), _activations(9, 100, 4), _activations(10, 100, 4, shift=-5)])
    return generated, real, example_labels, parents


def test_per_class_figures_show_a_child_that_draws_its_siblings_cluster():
    generated, real, example_labels, parents = _child_drawing_its_siblings_cluster()
    figures = per_class.class_figures(generated, real, example_labels, parents)
    assert [f.label for f in figures] == [0, 1, 2]  # tree order: the child after its parent
    by_label = {f.label: f for f in figures}
    for label in range(3):
        own = real[example_labels == label].astype(np.float64)
        assert by_label[label].distance == pytest.approx(
            _frechet(generated[100 * label:100 * (label + 1)].astype(np.float64), own), rel=1e-5, abs=1e-6)
    assert by_label[1].nearest_relative == 0 and not by_label[1].closer_to_own()
    assert by_label[0].nearest_relative == 1 and by_label[0].closer_to_own()
    assert by_label[2].nearest_relative == -1 and math.isnan(by_label[2].relative_distance)
    values = per_class.summary("ifid100_train", figures)
    assert values["ifid100_train/worst_class"] == 1 and values["ifid100_train/closer_to_own"] == 0.5
    assert values["ifid100_train"] == pytest.approx(np.mean([f.distance for f in figures]))
    assert "closer to the relative" in per_class.table("ifid100_train", figures).splitlines()[2]
    assert per_class.chart("ifid100_train", figures).startswith(b"\x89PNG")


def _kid(real, generated):
    """KID from its definition: the unbiased squared MMD with the kernel (x.y / D + 1)^3 (one block)."""
    d = real.shape[1]
    k_rr, k_gg, k_rg = ((a @ b.T / d + 1) ** 3 for a, b in ((real, real), (generated, generated), (real, generated)))
    n, m = len(real), len(generated)
    return float((k_rr.sum() - np.trace(k_rr)) / (n * (n - 1)) + (k_gg.sum() - np.trace(k_gg)) / (m * (m - 1))
                 - 2 * k_rg.mean())


def test_the_intra_class_kid_is_each_classs_kid_and_the_fid_says_when_classes_are_small():
    generated, real, example_labels, parents = _child_drawing_its_siblings_cluster()
    figures = per_class.class_figures(generated, real, example_labels, parents, kernel=True)
    for f in figures:
        assert f.distance == pytest.approx(_kid(real[example_labels == f.label].astype(np.float64),
                                                generated[100 * f.label:100 * (f.label + 1)].astype(np.float64)),
                                           rel=1e-3)  # tfgan sums float32 kernels of about 1e3
    assert figures[1].nearest_relative == 0 and not figures[1].closer_to_own()  # it draws its sibling's cluster
    # 200 training images per class against 2048 Inception features: the FID table says so once; the KID needs no note.
    caveat = per_class.caveat(metric_names.parse("ifid100_train"), figures)
    assert caveat.startswith("3 of 3 classes have at most 200 training images (as few as 200), no more than the 2048")
    assert "note: " + caveat in per_class.table("ifid100_train", figures, caveat).splitlines()[1]
    assert per_class.caveat(metric_names.parse("ikid100_train"), figures) == ""


def test_relatives_are_parent_children_and_siblings():
    parents = np.array([-1, -1, 0, 0, 2])
    assert per_class.relatives(parents, 0) == [2, 3]
    assert per_class.relatives(parents, 2) == [0, 3, 4]
    assert per_class.relatives(parents, 1) == []


class _SiblingsDrawing(Members):
    """Real images of every class, except that class `child` draws the images of class `instead`."""

    def __init__(self, images, example_labels, num_classes, child, instead):
        super().__init__(images, example_labels, num_classes)
        self.child, self.instead = child, instead

    def generate(self, noise, labels):
        return super().generate(noise, np.where(labels == self.child, self.instead, labels))


def test_the_builtin_per_class_figures_show_a_child_drawing_its_siblings_sub_class():
    data = builtin_data.make(2000, 16, seed=0)
    example_labels, parents = split_along_kinds(data)  # class c: colour c's blobs; class 10 + c: its stripes
    evaluator = registry.Evaluator(data=data, example_classes=lambda: (example_labels, parents))
    faithful = evaluator.report(["builtin_ifid40_train"], Members(data.images, example_labels, 20))
    astray = evaluator.report(["builtin_ifid40_train"], _SiblingsDrawing(data.images, example_labels, 20, 13, 3))
    assert faithful.values["builtin_ifid40_train/closer_to_own"] == 1.0
    rows = {f.label: f for f in astray.tables["builtin_ifid40_train"]}
    assert not rows[13].closer_to_own() and rows[13].nearest_relative == 3
    assert [c for c, f in rows.items() if not f.closer_to_own()] == [13]
    assert astray.values["builtin_ifid40_train/worst_class"] == 13
    assert astray.values["builtin_ifid40_train/closer_to_own"] == pytest.approx(19 / 20)


def test_every_figure_states_its_protocol(tmp_path):
    data = builtin_data.make(2000, 16, seed=0)
    test = builtin_data.make(2000, 16, seed=0, test=True)
    example_labels, parents = split_along_kinds(data)
    evaluator = registry.Evaluator(data=data, example_classes=lambda: (example_labels, parents), test_data=test)
    source = Members(data.images, example_labels, 20)
    names = ["builtin_fid50_train", "builtin_quality10"]
    first = evaluator.report(names, source, 0, {"export": "x"}).protocols
    again = evaluator.report(names, source, 0, {"export": "y"}).protocols
    other_seed = evaluator.report(names, source, 1, {"export": "x"}).protocols
    other_count = evaluator.report(["builtin_fid60_train"], source, 0, {"export": "x"}).protocols
    fid = first["builtin_fid50_train"]
    assert fid["reference"] == {"split": "train", "data": data.description, "images": 50,
                                "sha256": hashlib.sha256(data.images[:50].tobytes()).hexdigest()} and fid["seed"] == 0
    assert fid["samples"] == 50 and "uniform" in fid["samples_drawn"] and fid["generator"] == {"export": "x"}
    assert {"tensorflow", "tensorflow-gan"} <= set(fid["software"])
    # The code: its files' hash always; its commit (and whether the package differs from it) from a checkout.
    assert re.fullmatch("[0-9a-f]{64}", fid["code"]["files_sha256"]) and fid["code"]["version"]
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(checkout, ".git")):
        head = subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert fid["code"]["commit"] == head.strip() and isinstance(fid["code"]["modified"], bool)
    # Other images under the same name and count: another protocol.
    changed = dataclasses.replace(data, images=data.images.copy())
    changed.images[7, 0, 0, 0] ^= 1
    moved = registry.Evaluator(data=changed, example_classes=lambda: (example_labels, parents)).report(
        ["builtin_fid50_train"], source, 0, {"export": "x"}).protocols["builtin_fid50_train"]
    assert moved["reference"]["sha256"] != fid["reference"]["sha256"] and moved["id"] != fid["id"]
    assert first["builtin_quality10"]["samples_drawn"] == "10 of every class"
    assert [again[n]["id"] for n in names] == [first[n]["id"] for n in names]  # another generator, one protocol
    assert all(other_seed[n]["id"] != first[n]["id"] for n in names)
    assert other_count["builtin_fid60_train"]["id"] != fid["id"]
    assert test.description.startswith("built-in dataset test split") and len(test) == 400
    assert not np.array_equal(test.images[:40], data.images[:40])


def test_the_inception_hash_and_the_preprocessing_key_the_cached_real_features(tmp_path, monkeypatch):
    first = build_inception(tmp_path / "a", seed=0)
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    other = build_inception(tmp_path / "b", seed=1)
    assert inception_module.module_sha256(first) == inception_module.module_sha256(str(copy))
    assert inception_module.module_sha256(first) != inception_module.module_sha256(other)
    data = builtin_data.make(30, 16, seed=0)
    cache = tmp_path / "cache"
    values = {}
    for module in (first, other, first):
        network = inception.InceptionNetwork(module)
        features = real_features.RealFeatures(data, "train", lambda: network, str(cache))
        values.setdefault(module, []).append(np.array(features.features(20)))
        assert features.statistics(20)[0].shape == (2048,)
    assert len([n for n in os.listdir(cache) if n.endswith(".npy")]) == 2  # one per module, the first reused
    np.testing.assert_array_equal(values[first][0], values[first][1])
    assert not np.allclose(values[first][0], values[other][0])
    # Another preprocessing (a change of resize) is another key: the features are computed anew, not reused.
    monkeypatch.setattr(inception, "PREPROCESSING", inception.PREPROCESSING + " (changed)")
    network = inception.InceptionNetwork(first)
    real_features.RealFeatures(data, "train", lambda: network, str(cache)).features(20)
    assert len([n for n in os.listdir(cache) if n.endswith(".npy")]) == 3


def test_kid_and_precision_recall_through_the_evaluator(inception_dir, tmp_path):
    data = builtin_data.make(200, 16, seed=0)
    evaluator = registry.Evaluator(inception_dir, data, str(tmp_path))
    same = evaluator.evaluate(["kid100_train", "pr100_train"], ImagesSource(data.images[:100]))
    noise = np.random.default_rng(0).integers(0, 256, (100, 16, 16, 3), dtype=np.uint8)
    far = evaluator.evaluate(["kid100_train", "pr100_train"], ImagesSource(noise))
    assert same["pr100_train/precision"] == 1.0 and same["pr100_train/recall"] == 1.0  # the reference itself
    assert far["kid100_train"] > 10 * max(abs(same["kid100_train"]), 1e-6) and "kid100_train_se" in far
    assert far["pr100_train/precision"] < 0.5
