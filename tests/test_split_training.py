"""Class splits inside training: same compiled step, function preservation, slots, resume, records."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans

from conftest import TINY, train_cli
from splitgan_keras import config, runtime
from splitgan_keras.artefacts import checkpoints, export, pictures, sampling
from splitgan_keras.data import builtin_data, image_data, pipeline
from splitgan_keras.models import optimizers
from splitgan_keras.split import allocation, rule, step, surgery
from splitgan_keras.train import build, callbacks
from splitgan_keras.train.run_log import RunLog
from splitgan_keras.train.split_records import SplitRecords

SIZE = 16


def _splitter(cfg, data, gan, tmp_path, split_rule=None):
    records = SplitRecords(data.images, sampling.GeneratorSource(gan.sampling_generator), str(tmp_path / "splits"),
                           RunLog(None), pictures.ClassNames(), cfg.train.seed)
    return step.ClassSplitter(gan, data, split_rule or rule.from_config(cfg.split, cfg.train.seed),
                              cfg.train.batch_size, cfg.split.feature_norm, records, cfg.train.seed)


def _tiny(tmp_path, unsupervised=False, split_rule=None, **train):
    cfg = config.with_overrides(config.Config(), {
        "model.width": 8, "model.image_size": SIZE, "data.builtin_size": 200, "train.batch_size": 4,
        "train.n_critic": 2, "split.split_above": 5, "split.unsupervised": unsupervised,
        "output.run_dir": str(tmp_path), **{"train." + k: v for k, v in train.items()}}, "test")
    data = builtin_data.make(200, SIZE, seed=0)
    if unsupervised:
        data = image_data.unsupervised(data)
    gan = build.build_gan(cfg, data, runtime.Runtime("cpu", "float32"))
    return cfg, data, gan, _splitter(cfg, data, gan, tmp_path, split_rule)


def _fit(cfg, data, gan, steps, extra_callbacks=()):
    batches = pipeline.iteration_inputs(data.images, cfg.train, start_iteration=int(gan.iteration.numpy()))
    return gan.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=list(extra_callbacks))


def test_training_runs_through_a_split_in_the_same_compiled_step(tmp_path):
    cfg, data, gan, splitter = _tiny(tmp_path)
    store = checkpoints.TrainingCheckpoints(str(tmp_path / "ckpt"), gan, keep=2)
    history = _fit(cfg, data, gan, 5, [callbacks.ClassSplitCallback(splitter, [1], store, stream=open(os.devnull, "w"))])
    assert gan.generator.class_state.num_active() == 20
    assert gan.train_function.experimental_get_tracing_count() == 1
    assert int(optimizers.unwrap(gan.d_optimizer).iterations) == 5 * cfg.train.n_critic  # never reset
    assert history.history["split/num_classes"][-1] == 20.0
    assert np.isfinite(history.history["d/cost"][-1])
    assert store.latest.endswith("ckpt-2")  # saved right after the split
    assert set(np.unique(gan.example_labels.numpy())) == set(range(20))


def test_split_copies_class_rows_with_adam_state_and_preserves_the_generator(tmp_path):
    cfg, data, gan, splitter = _tiny(tmp_path)
    _fit(cfg, data, gan, 3)  # class rows and Adam slots are non-trivial now
    z = tf.random.normal([6, 128], seed=1)
    parent_before = {c: gan.generator(z, tf.fill([6], c)).numpy() for c in range(10)}
    head = gan.critic.class_head
    m_before = optimizers.slot(gan.d_optimizer, head.kernel, "m").numpy().copy()
    result = splitter.split(2)
    assert (result.classes_before, result.classes_after) == (10, 20)
    for parent in range(10):
        child = 10 + parent
        parent_after = gan.generator(z, tf.fill([6], parent)).numpy()
        np.testing.assert_array_equal(parent_after, parent_before[parent])
        np.testing.assert_array_equal(gan.generator(z, tf.fill([6], child)).numpy(), parent_after)
        for variable, axis in surgery.class_head_variables(gan.critic):
            for value in [variable] + [optimizers.slot(gan.d_optimizer, variable, n) for n in optimizers.SLOT_NAMES]:
                np.testing.assert_array_equal(np.take(value.numpy(), child, axis), np.take(value.numpy(), parent, axis))
    assert np.any(m_before[:, :10])
    np.testing.assert_array_equal(optimizers.slot(gan.d_optimizer, head.kernel, "m").numpy()[:, 20:],
                                  m_before[:, 20:])


def test_surgery_reaches_slots_through_a_loss_scale_wrapper(tmp_path):
    cfg, data, gan, splitter = _tiny(tmp_path)
    gan.d_optimizer = tf.keras.mixed_precision.LossScaleOptimizer(gan.d_optimizer)
    kernel = gan.critic.class_head.kernel
    v = optimizers.slot(gan.d_optimizer, kernel, "v")
    v.assign(np.random.default_rng(0).uniform(size=v.shape).astype(np.float32))
    plan = rule.SplitPlan(gan.example_labels.numpy(), np.array([0], np.int32))
    surgery.apply_split(plan, allocation.allocate(gan.generator.class_state.tree(), 10, plan.parent_of_child), gan)
    np.testing.assert_array_equal(v.numpy()[:, 10], v.numpy()[:, 0])


def test_split_records(tmp_path):
    cfg, data, gan, splitter = _tiny(tmp_path)
    result = splitter.split(7)
    d = tmp_path / "splits" / "iteration_0000007"
    assert result.record_dir == str(d)
    after = np.loadtxt(d / "labels_after.txt", dtype=int)
    np.testing.assert_array_equal(after, gan.example_labels.numpy())
    np.testing.assert_array_equal(np.loadtxt(d / "labels_before.txt", dtype=int), data.labels)
    np.testing.assert_array_equal(np.loadtxt(d / "tree_after.txt"), gan.generator.class_state.tree())
    record = json.loads((d / "hierarchy.json").read_text())
    assert record["classes_after"] == 20 and len(record["splits"]) == 10
    assert [c["parent"] for c in record["classes"]] == [-1] * 10 + list(range(10))
    assert set(record["subclass_recovery"]) == {str(i) for i in range(10)}
    assert (d / "hierarchy.txt").read_text().splitlines()[1].startswith("    10: ")
    grid = tf.io.decode_png((d / "real_per_class.png").read_bytes()).numpy()
    first = data.images[np.flatnonzero(gan.example_labels.numpy() == 0)[:10]]
    row = grid[-(20 * (SIZE + 1) + 1):-19 * (SIZE + 1)]  # row 0 (under the title): class 0's first real images
    expected = pictures.tile(first, 10)
    assert any(np.array_equal(row[:, x:x + expected.shape[1]], expected) for x in range(row.shape[1]))
    hierarchy = tf.io.decode_png((d / "hierarchy.png").read_bytes()).numpy()
    assert hierarchy.shape[0] == grid.shape[0] and hierarchy.shape[1] > 11 * (SIZE + 1)
    assert "hidden sub-class recovery: mean adjusted Rand index" in result.summary()
    assert "\n  against the hidden groups (20): adjusted Rand index" in result.summary()  # the whole partition too
    assert set(record["partition_scores"]) == {"hidden groups", "colours", "kinds"}


def test_unsupervised_repeated_splits(tmp_path):
    cfg, data, gan, splitter = _tiny(tmp_path, unsupervised=True)
    assert gan.generator.class_state.num_active() == 1 and not gan.example_labels.numpy().any()
    sizes = []
    for iteration in (0, 1, 2):
        splitter.split(iteration)
        sizes.append(gan.generator.class_state.num_active())
    assert sizes == [2, 4, 8]
    assert gan.generator.class_state.parents().tolist() == [-1, 0, 0, 1, 0, 1, 2, 3]
    # Scored as a whole partition against the hidden groups (colour x kind) and what the images show, not per
    # split class (one class holds every group), in the line, the record and against a count made here.
    first = splitter.history[0]
    assert first.recovery is None and set(first.partition) == {"hidden groups", "colours", "kinds"}
    groups = data.appearance.colour * 2 + data.appearance.kind
    labels = np.loadtxt(os.path.join(first.record_dir, "labels_after.txt"), dtype=int)
    purity = sum(np.bincount(groups[labels == c]).max() for c in np.unique(labels)) / len(labels)
    assert first.partition["hidden groups"]["purity"] == pytest.approx(purity)
    assert first.partition["hidden groups"]["groups"] == 20 and first.partition["kinds"]["groups"] == 2
    record = json.loads(open(os.path.join(first.record_dir, "hierarchy.json")).read())
    assert record["partition_scores"] == first.partition and record["subclass_recovery"] is None
    assert first.summary().startswith("split after iteration 0: 1 -> 2 classes; against the hidden groups (20): "
                                      "adjusted Rand index %.3f" % first.partition["hidden groups"]["ari"])


def _final_state(run_dir, number):
    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", "ckpt-%d" % number))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith(("save_counter", "_CHECKPOINTABLE"))}


@pytest.mark.slow
def test_resume_before_and_right_after_a_split(tmp_path, capsys):
    common = TINY + ["--iterations", 6, "--split-at", 2, "--split-above", 3]
    assert train_cli(common + ["--run-dir", tmp_path / "straight"], capsys)[0] == 0
    expected = _final_state(tmp_path / "straight", 6)
    for stop in (2, 3):  # 3: the split follows iteration 2 (0-based), i.e. the 3rd, and is checkpointed
        run_dir = tmp_path / ("stop%d" % stop)
        assert train_cli(common + ["--run-dir", run_dir, "--stop-at", stop], capsys)[0] == 0
        status, out, err = train_cli(["--run-dir", run_dir, "--resume"], capsys)
        assert status == 0, err
        assert ("split after iteration 2" in out) == (stop == 2)
        state = _final_state(run_dir, 6)
        assert state.keys() == expected.keys()
        for name in expected:
            np.testing.assert_array_equal(state[name], expected[name], err_msg=name)
        assert os.listdir(run_dir / "splits") == ["iteration_0000002"]


def test_schedules_beyond_capacity_or_the_run_are_refused(tmp_path, capsys):
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "a", "--iterations", 20,
                                         "--split-at", "1,2,3,4,5"], capsys)
    assert status == 2 and "5 split rounds" in err and "10 class(es)" in err
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "b", "--iterations", 5, "--split-at", 5], capsys)
    assert status == 2 and "--split-at (split.split_at) [5] lies beyond the run" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_builtin_split_recovers_the_hidden_subclasses(tmp_path, capsys):
    # Width 8, 16x16, 1000 images, the quick start's batch and learning rate, split after 20
    # iterations: mean ARI 0.64 and purity 0.89 here, 0.30 / 0.74 and 0.50 / 0.81 with training
    # seeds 1 and 2 (chance: 0 and about 0.5); the quick start's width-16 critic reaches 0.74 to 0.81.
    run_dir = tmp_path / "run"
    status, out, err = train_cli(TINY + ["--run-dir", run_dir, "--builtin-size", 1000, "--iterations", 21,
                                         "--split-at", 20, "--split-above", 10, "--batch-size", 16,
                                         "--set", "train.learning_rate=0.004"], capsys)
    assert status == 0, err
    record = json.loads((run_dir / "splits" / "iteration_0000020" / "hierarchy.json").read_text())
    recovery = record["subclass_recovery"]
    assert len(recovery) == 10
    assert np.mean([r["ari"] for r in recovery.values()]) > 0.2
    assert np.mean([r["purity"] for r in recovery.values()]) > 0.7
    assert out.count("hidden sub-class recovery: mean adjusted Rand index") == 1  # at the split


class LargestClassInThree:
    """Another rule, for the test below: only the largest class is split, three ways by 3-means."""

    max_new_per_class = 2

    def plan(self, features, labels, classes_before):
        largest = int(np.bincount(labels, minlength=classes_before).argmax())
        members = np.flatnonzero(labels == largest)
        clusters = KMeans(n_clusters=3, n_init=3, random_state=0).fit_predict(features[members])
        new_labels = labels.astype(np.int32).copy()
        for k in (1, 2):
            new_labels[members[clusters == k]] = classes_before + k - 1
        return rule.SplitPlan(new_labels, np.array([largest, largest], np.int32), {largest: {"clusters": 3.0}})


def test_another_split_rule_needs_no_other_change(tmp_path):
    cfg, data, gan, splitter = _tiny(tmp_path, unsupervised=True, split_rule=LargestClassInThree())
    store = checkpoints.TrainingCheckpoints(str(tmp_path / "ckpt"), gan, keep=2)
    quiet = open(os.devnull, "w")
    _fit(cfg, data, gan, 4, [callbacks.ClassSplitCallback(splitter, [0, 2], store, stream=quiet)])
    first, second = (json.loads((tmp_path / "splits" / d / "hierarchy.json").read_text())
                     for d in ("iteration_0000000", "iteration_0000002"))
    largest = int(np.argmax([c["images"] for c in first["classes"]]))  # the one the second split divides
    state = gan.generator.class_state
    assert state.num_active() == 5 and state.parents().tolist() == [-1, 0, 0, largest, largest]  # 1 -> 3 -> 5
    assert gan.train_function.experimental_get_tracing_count() == 1
    assert len({tuple(row) for row in state.tree()[:5]}) == 5  # every class its own conditional-BN row
    assert [(s["parent"], s["child"], s["clusters"]) for s in first["splits"]] == [(0, 1, 3.0), (0, 2, 3.0)]
    assert [s["child"] for s in second["splits"]] == [3, 4] and second["classes_after"] == 5
    served = export.export_generator(gan.sampling_generator, str(tmp_path / "export"))
    loaded = tf.saved_model.load(served)  # kept: TF 2.6 frees the variables with the object
    hierarchy = loaded.signatures[export.HIERARCHY_SIGNATURE]()
    assert int(hierarchy["num_classes"]) == 5
    assert hierarchy["class_parents"].numpy().tolist() == state.parents().tolist()
