"""The Inception module is checked before anything is sampled, and named by what it is: modules of other shapes,
modules that cannot be called and files that are not SavedModel folders are refused in one line; a figure says
"tfgan's Inception module" only for a module whose hash the project knows."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stand_in_sources import ImagesSource
from splitgan_keras import inception_module
from splitgan_keras.data import builtin_data
from splitgan_keras.errors import UserError, error_line
from splitgan_keras.evaluate.metrics import inception, registry

ANY_IMAGES = tf.TensorSpec(shape=None, dtype=tf.float32)


def _outputs(x, logits, pool):
    """A dict of `logits` and `pool` values per image of images x, as tfgan's module returns."""
    n = tf.shape(x)[0]
    return {"logits": tf.zeros([n, logits]) + tf.reduce_mean(x), "pool_3": tf.zeros([n, 1, 1, pool])}


class SmallOutputs(tf.Module):  # the example: a classifier of 10 classes, 7 features
    @tf.function(input_signature=[ANY_IMAGES])
    def __call__(self, x):
        return _outputs(x, 10, 7)


class NoPool(tf.Module):
    @tf.function(input_signature=[ANY_IMAGES])
    def __call__(self, x):
        return {"logits": tf.zeros([tf.shape(x)[0], 1008])}


class PlainTensor(tf.Module):  # a plain classifier: logits only, not a dict
    @tf.function(input_signature=[ANY_IMAGES])
    def __call__(self, x):
        return tf.zeros([tf.shape(x)[0], 1008])


class Size224(tf.Module):  # Keras' InceptionV3 and most classifiers take 224 or 299 with another signature
    @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32)])
    def __call__(self, x):
        return _outputs(x, 1008, 2048)


class NotCallable(tf.Module):  # weights without a call function
    def __init__(self):
        super().__init__()
        self.weights_only = tf.Variable(tf.zeros([4]))


class UnknownShapes(tf.Module):  # shapes known only when run: the check runs it once
    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    @tf.function(input_signature=[ANY_IMAGES])
    def __call__(self, x):
        n = tf.shape(x)[0]
        width = tf.cast(tf.reduce_max(x) * 0 + self.pool, tf.int32)  # not static
        return {"logits": tf.reshape(tf.zeros([n * 1008]), [n, -1]), "pool_3": tf.zeros(tf.stack([n, width]))}


@pytest.mark.parametrize("module, message", [
    (SmallOutputs(), r"returns 10 'logits' values per image; tfgan's Inception module returns 1008"),
    (NoPool(), r"returns a dict of 'logits', not a dict with 'logits' and 'pool_3'"),
    (PlainTensor(), r"returns a tensor, not a dict with 'logits' and 'pool_3'"),
    (Size224(), r"does not take float32 images \[N, 299, 299, 3\]"),
    (NotCallable(), r"cannot be called \(a SavedModel of .* without __call__\): not an Inception module"),
    (UnknownShapes(7), r"returns 7 'pool_3' values per image; tfgan's Inception module returns 2048"),
])
def test_a_module_of_another_interface_is_refused_before_anything_is_sampled(tmp_path, module, message):
    tf.saved_model.save(module, str(tmp_path / "module"))
    evaluator = registry.Evaluator(str(tmp_path / "module"), builtin_data.make(40, 8), str(tmp_path / "cache"))
    with pytest.raises(UserError, match=message) as refused:
        evaluator.report(["is10", "fid20_train"], _NeverSampled())
    assert "\n" not in error_line(refused.value)


def test_a_module_whose_shapes_show_only_when_run_is_accepted_when_they_fit(tmp_path):
    tf.saved_model.save(UnknownShapes(2048), str(tmp_path / "module"))
    logits, pool = inception.InceptionNetwork(str(tmp_path / "module"), batch=4).outputs(np.zeros((3, 8, 8, 3), np.uint8))
    assert logits.shape == (3, 1008) and pool.shape == (3, 2048)


class _NeverSampled(ImagesSource):
    def __init__(self):
        super().__init__(np.zeros((4, 8, 8, 3), np.uint8))

    def generate(self, noise, labels):
        raise AssertionError("sampled before the module was checked")


def test_inception_naming_a_file_is_refused_before_tensorflow_loads(tmp_path):
    module_file = tmp_path / "inception.tar.gz"
    module_file.write_bytes(b"\x1f\x8b not extracted")
    code = ("import sys; from splitgan_keras.cli import main\n"
            "status = main.main_eval(sys.argv[1:])\n"
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was loaded before the check'\n"
            "sys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), "--metrics", "is100", "--inception",
                           str(module_file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: --inception %s is a file, not a SavedModel folder (a TF-Hub module is a "
                                   "folder with saved_model.pb and variables/); %s"
                                   % (module_file, inception_module.HOW_TO_GET))


def test_a_folder_without_a_saved_model_and_a_missing_one_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is not a SavedModel folder \\(no saved_model.pb in it\\)"):
        inception_module.check_folder(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="does not exist; on a machine with network, download"):
        inception_module.check_folder(str(tmp_path / "missing"))


def test_figures_name_the_module_by_its_hash_and_call_it_tfgans_only_when_the_hash_is_known(
        inception_dir, tmp_path, monkeypatch, capsys):
    data = builtin_data.make(40, 8)
    sha256 = inception_module.module_sha256(inception_dir)
    report = registry.Evaluator(inception_dir, data, str(tmp_path)).report(["is10"], ImagesSource(data.images[:10]))
    assert report.protocols["is10"]["features"]["sha256"] == sha256
    assert report.protocols["is10"]["features"]["network"] == inception_module.UNKNOWN_NAME
    assert "not known to be tfgan's" in inception.InceptionNetwork(inception_dir).summary()
    monkeypatch.setitem(inception_module.KNOWN_MODULES, sha256, "a test's stand-in, as if fetched from tfgan's handle")
    known = registry.Evaluator(inception_dir, data, str(tmp_path)).report(["is10"], ImagesSource(data.images[:10]))
    assert known.protocols["is10"]["features"]["network"] == inception_module.TFGAN_NAME
    assert known.protocols["is10"]["id"] != report.protocols["is10"]["id"]


def test_the_module_hash_covers_every_file_and_refuses_links(tmp_path, inception_dir):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(inception_dir, copy)
    assert inception_module.module_sha256(str(copy)) == inception_module.module_sha256(inception_dir)
    (copy / "variables" / "extra").write_bytes(b"1")
    changed = tmp_path / "changed"
    shutil.copytree(copy, changed)
    assert inception_module.module_sha256(str(changed)) != inception_module.module_sha256(inception_dir)
    linked = tmp_path / "linked"
    shutil.copytree(inception_dir, linked)
    os.symlink("/etc/hostname", linked / "variables" / "outside")
    with pytest.raises(UserError, match="not a regular file"):
        inception_module.module_sha256(str(linked))


def test_a_user_error_raised_while_a_function_is_traced_is_its_own_line():
    @tf.function
    def traced(x):
        if x.shape[0] == 3:
            raise UserError("three images are refused")
        return x

    with pytest.raises(UserError) as raised:
        traced(tf.zeros([3]))
    assert "in user code" in str(raised.value)  # autograph's trace around it
    assert error_line(raised.value) == "error: three images are refused"
