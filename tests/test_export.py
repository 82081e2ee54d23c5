"""The exported generator: loads without this project, generates the same images, keeps its
class hierarchy, and an interrupted export leaves the previous one intact."""
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras.artefacts import export, sampling
from splitgan_keras.evaluate import sources
from splitgan_keras.models import networks
from splitgan_keras.split import allocation, rule

FRESH_PROCESS = textwrap.dedent("""
    import sys
    sys.modules["splitgan_keras"] = None  # loading must not need this project
    import numpy as np, tensorflow as tf
    export_dir, inputs, out = sys.argv[1:]
    with np.load(inputs) as f:
        noise, labels = f["noise"], f["labels"]
    module = tf.saved_model.load(export_dir)
    served = module.signatures["serving_default"](noise=tf.constant(noise), labels=tf.constant(labels))["images"]
    hierarchy = module.signatures["class_hierarchy"]()
    keras_model = tf.keras.models.load_model(export_dir)
    keras_images = keras_model(tf.constant(noise), tf.constant(labels))
    np.savez(out, served=served.numpy(), keras=keras_images.numpy(), parents=hierarchy["class_parents"].numpy(),
             num_classes=hierarchy["num_classes"].numpy(), tree=hierarchy["class_tree"].numpy())
""")


@pytest.fixture(scope="module")
def split_generator():
    """A small generator with distinct class parameters and one split (3 -> 4 classes)."""
    tf.random.set_seed(0)
    generator = networks.Generator(width=8, image_size=16, initial_classes=3)
    generator(tf.zeros([2, 128]), tf.zeros([2], tf.int32))
    rng = np.random.default_rng(0)
    for block in generator.blocks:
        for norm in (block.norm1, block.norm2):
            norm.scale.assign(rng.normal(1, 0.3, norm.scale.shape).astype(np.float32))
            norm.offset.assign(rng.normal(0, 0.3, norm.offset.shape).astype(np.float32))
    features = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(5, 1, (30, 4))])
    plan = rule.TwoMeansRule(10, 0).plan(features, np.zeros(60, int), 3)  # splits class 0
    state = generator.class_state
    state.assign(allocation.allocate(state.tree(), 3, plan.parent_of_child), [-1, -1, -1, 0])
    return generator


def test_export_loads_in_a_fresh_process_without_the_project(split_generator, tmp_path):
    export_dir = export.export_generator(split_generator, str(tmp_path / "export"))
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((24, 128)).astype(np.float32)
    labels = (np.arange(24) % 4).astype(np.int32)
    np.savez(tmp_path / "inputs.npz", noise=noise, labels=labels)
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, export_dir, str(tmp_path / "inputs.npz"),
                             str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / "out.npz") as out:
        expected = split_generator(noise, labels).numpy()
        np.testing.assert_allclose(out["keras"], expected, atol=1e-5)
        uint8 = sampling.to_uint8(expected).numpy()
        assert out["served"].dtype == np.uint8 and out["served"].shape == (24, 16, 16, 3)
        assert np.abs(out["served"].astype(int) - uint8.astype(int)).max() <= 1  # rounding at a boundary at most
        assert int(out["num_classes"]) == 4
        assert out["parents"].tolist() == [-1, -1, -1, 0]
        np.testing.assert_array_equal(out["tree"], split_generator.class_state.tree())


def test_an_interrupted_export_keeps_the_previous_one(split_generator, tmp_path, monkeypatch):
    target = str(tmp_path / "export")
    export.export_generator(split_generator, target)
    before = sorted(os.listdir(target))

    def crash(self, path, *args, **kwargs):
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(networks.Generator, "save", crash)
    with pytest.raises(OSError, match="No space left"):
        export.export_generator(split_generator, target)
    assert sorted(os.listdir(target)) == before
    assert os.listdir(tmp_path) == ["export"]  # no staging folder left behind
    loaded = tf.saved_model.load(target)
    assert int(loaded.signatures["class_hierarchy"]()["num_classes"]) == 4


def test_an_export_killed_between_its_renames_is_put_back(split_generator, tmp_path, monkeypatch):
    target = str(tmp_path / "export")
    export.export_generator(split_generator, target)
    real_rename = os.rename

    def killed_after_retiring(src, dst):  # the first rename (retire the old export) happens, then the "kill"
        real_rename(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", killed_after_retiring)
    with pytest.raises(KeyboardInterrupt):
        export.export_generator(split_generator, target)
    monkeypatch.setattr(os, "rename", real_rename)
    assert not os.path.exists(target)  # the window the kill hit
    loaded = sources.load(target)  # eval.py puts the retired export back before loading
    assert loaded.source.num_active() == 4 and os.listdir(tmp_path) == ["export"]


def test_the_export_warns_of_nothing(split_generator, tmp_path):
    """Keras warns when it skips a layer it thinks unbuilt; a newcomer would read that as lost state."""
    seen = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append
    tf.get_logger().addHandler(handler)
    try:
        export.export_generator(split_generator, str(tmp_path / "export"))
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [r.getMessage() for r in seen]
