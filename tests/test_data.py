"""Data sets and the input pipeline."""
import os
import pickle
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from conftest import write_cifar_batches
from splitgan_keras import config
from splitgan_keras.data import builtin_data, cifar10, image_data, pipeline, stl10
from splitgan_keras.errors import UserError


def test_builtin_dataset_is_deterministic_balanced_and_in_range():
    a = builtin_data.make(200, 16, seed=5)
    b = builtin_data.make(200, 16, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, builtin_data.make(200, 16, seed=6).images)
    assert a.images.shape == (200, 16, 16, 3) and a.images.dtype == np.uint8
    assert np.bincount(a.labels).tolist() == [20] * 10
    assert np.bincount(a.subclasses, minlength=2).tolist() == [100, 100]
    for k in range(10):  # both sub-classes in every class
        assert set(a.subclasses[a.labels == k]) == {0, 1}
    image_data.check(a, 16, 4)


def test_builtin_subclasses_differ_visibly_and_classes_by_colour():
    d = builtin_data.make(400, 32, seed=0)
    x = d.images.astype(np.float32)
    # Stripes alternate every 2 pixels: large differences between neighbours 2 apart; blobs are smooth
    # (the least contrasted stripes, of a colour against its own dim background, are 3.2x rougher than
    # the steepest blob).
    roughness = np.abs(x[:, 2:] - x[:, :-2]).mean(axis=(1, 2, 3)) + np.abs(x[:, :, 2:] - x[:, :, :-2]).mean(axis=(1, 2, 3))
    assert roughness[d.subclasses == 1].min() > 2.5 * roughness[d.subclasses == 0].max()
    blob_colour = np.array([x[(d.labels == k) & (d.subclasses == 0)].mean(axis=(0, 1, 2)) for k in range(10)])
    distances = np.linalg.norm(blob_colour[:, None] - blob_colour[None], axis=-1)
    assert distances[~np.eye(10, dtype=bool)].min() > 10


def test_cifar10_loads_folder_and_archive_identically(tmp_path):
    folder = write_cifar_batches(str(tmp_path / "cifar-10-batches-py"), per_batch=10)
    from_folder = cifar10.load(folder)
    from_parent = cifar10.load(str(tmp_path))
    archive = str(tmp_path / "cifar-10-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    from_archive = cifar10.load(archive)
    assert from_folder.images.shape == (50, 32, 32, 3)
    for other in (from_parent, from_archive):
        np.testing.assert_array_equal(other.images, from_folder.images)
        np.testing.assert_array_equal(other.labels, from_folder.labels)
    # Channel-major rows: value at (c, y, x) is row[c*1024 + y*32 + x].
    with open(os.path.join(folder, "data_batch_1"), "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data"][0]
    assert from_folder.images[0, 5, 7, 2] == row[2 * 1024 + 5 * 32 + 7]


def _with(key, change):
    return lambda batch: {**batch, key: change(batch[key])}


@pytest.mark.parametrize("corrupt, message", [
    (_with(b"data", lambda d: d[:, :3000]), r"uint8 array \[n, 3072\]"),
    (_with(b"data", lambda d: d.astype(np.float32)), r"uint8 array \[n, 3072\]"),
    (_with(b"labels", lambda labels: [10] + labels[1:]), r"labels must lie in 0\.\.9"),
    (_with(b"labels", lambda labels: labels[:-1]), "'labels' must be"),
    (lambda b: {b"images": b[b"data"]}, "expected 'data' and 'labels'"),
])
def test_cifar10_rejects_malformed_batches_naming_the_file(tmp_path, corrupt, message):
    folder = write_cifar_batches(str(tmp_path / "c"), corrupt=corrupt)
    with pytest.raises(UserError, match=message) as info:
        cifar10.load(folder)
    assert "data_batch_3" in str(info.value)


def test_cifar10_missing_or_unreadable_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        cifar10.load(str(tmp_path / "nowhere"))
    folder = write_cifar_batches(str(tmp_path / "c"))
    os.remove(os.path.join(folder, "data_batch_4"))
    with pytest.raises(UserError, match="data_batch_4 is missing"):
        cifar10.load(folder)
    with open(os.path.join(folder, "data_batch_4"), "wb") as f:
        f.write(b"\x80\x02garbage")
    with pytest.raises(UserError, match="data_batch_4 is not a CIFAR-10 python batch"):
        cifar10.load(folder)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"not an archive")
    with pytest.raises(UserError, match="cannot read .*cifar-10-python.tar.gz") as info:
        cifar10.load(str(archive))
    assert "\n" not in str(info.value)  # one line, though tarfile's message lists every method it tried


def test_check_rejects_wrong_shapes_and_labels():
    good = builtin_data.make(40, 16)
    with pytest.raises(UserError, match=r"shape \[N, 32, 32, 3\]"):
        image_data.check(good, 32, 4)
    bad = image_data.ImageData(good.images, good.labels + 1, 10, "test set")
    with pytest.raises(UserError, match=r"test set: labels must lie in \[0, 10\)"):
        image_data.check(bad, 16, 4)
    few = image_data.ImageData(good.images[:3], good.labels[:3], 10, "test set")
    with pytest.raises(UserError, match="fewer than one critic batch"):
        image_data.check(few, 16, 4)
    missing = image_data.ImageData(good.images, np.zeros(40, np.int32), 10, "test set")
    with pytest.raises(UserError, match=r"no images for class\(es\) \[1, 2"):
        image_data.check(missing, 16, 4)


def _train(**kw):
    return config.TrainConfig(**dict(dict(batch_size=4, n_critic=3, seed=7), **kw))


def _indices(ds, n, key="indices"):
    return np.stack([e[key].numpy() for e in ds.take(n)])


def test_pipeline_epochs_are_permutations_without_the_remainder():
    images = np.arange(22, dtype=np.uint8).reshape(22, 1, 1, 1).repeat(3, -1)
    ds = pipeline.iteration_inputs(images, _train(n_critic=5, seed=1))
    # Endless by its cardinality too: a multi-worker strategy reads a stream that may end with
    # unknown batch sizes.
    assert ds.cardinality() == tf.data.experimental.INFINITE_CARDINALITY
    assert all(spec.shape.is_fully_defined() for spec in ds.element_spec.values())
    first = next(iter(ds))
    assert first["pixels"].shape == (5, 4, 1, 1, 3) and first["indices"].shape == (5, 4)
    np.testing.assert_array_equal(first["pixels"].numpy()[..., 0, 0, 0], first["indices"].numpy())
    shapes = {k: tuple(v.shape) for k, v in first.items()}
    assert shapes["dequant_noise"] == (5, 4, 1, 1, 3) and shapes["critic_noise"] == (5, 4, 128)
    assert shapes["alpha"] == (5, 4, 1, 1, 1) and shapes["generator_noise"] == (8, 128) and shapes["label_draws"] == (8,)
    noise = first["dequant_noise"].numpy()
    assert 0 <= noise.min() and noise.max() < 1 / 128
    flat = _indices(ds, 4).reshape(-1)  # 4 iterations of 5 batches of 4: one epoch (20 of 22) each
    for epoch in range(4):
        chunk = flat[epoch * 20:(epoch + 1) * 20]
        assert len(set(chunk.tolist())) == 20  # 5 full batches per epoch, 2 images dropped
    assert not np.array_equal(flat[:20], flat[20:40])  # reshuffled every epoch


def test_pipeline_resumes_at_the_exact_batch_and_random_inputs():
    images = np.zeros((50, 2, 2, 3), np.uint8)
    for key in ("indices", "critic_noise", "label_draws"):
        full = _indices(pipeline.iteration_inputs(images, _train()), 10, key)
        resumed = _indices(pipeline.iteration_inputs(images, _train(), start_iteration=6), 4, key)
        np.testing.assert_array_equal(resumed, full[6:])
        other_seed = _indices(pipeline.iteration_inputs(images, _train(seed=8)), 10, key)
        assert not np.array_equal(other_seed, full)


def test_replica_shards_are_slices_of_the_single_device_inputs():
    images = np.random.default_rng(0).integers(0, 256, (50, 2, 2, 3), dtype=np.uint8)
    single = list(pipeline.iteration_inputs(images, _train(), start_iteration=3).take(2))
    both = list(pipeline.iteration_inputs(images, _train(), 3, shards=(0, 1), num_shards=2).take(4))
    second = list(pipeline.iteration_inputs(images, _train(), 3, shards=(1,), num_shards=2).take(2))
    for t in range(2):
        for key, value in single[t].items():
            value = value.numpy()
            halves = [both[2 * t][key].numpy(), both[2 * t + 1][key].numpy()]  # one element per replica, in order
            axis = 0 if key in ("generator_noise", "label_draws") else 1  # the others are [n_critic, B, ...]
            np.testing.assert_array_equal(np.concatenate(halves, axis), value, err_msg=key)
            np.testing.assert_array_equal(second[t][key].numpy(), halves[1], err_msg=key)


def _write_stl(folder, images_chw):
    """images_chw: uint8 [N, 3, 96, 96]; stored as STL-10 does, each channel column-major."""
    os.makedirs(os.path.join(folder, "stl10_binary"), exist_ok=True)
    path = os.path.join(folder, "stl10_binary", "unlabeled_X.bin")
    np.ascontiguousarray(np.transpose(images_chw, (0, 1, 3, 2))).tofile(path)
    return path


def test_stl10_reads_column_major_channels_and_resizes(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 3, 96, 96), dtype=np.uint8)
    images[0, 0, 10, 70] = 255  # a marker at row 10, column 70 of the red channel
    path = _write_stl(str(tmp_path), images)
    full = stl10.load(str(tmp_path), 96)
    assert full.images.shape == (3, 96, 96, 3) and full.num_classes == 1 and not full.labels.any()
    np.testing.assert_array_equal(full.images, np.transpose(images, (0, 2, 3, 1)))
    for location in (str(tmp_path / "stl10_binary"), path):
        np.testing.assert_array_equal(stl10.load(location, 96).images, full.images)
    small = stl10.load(str(tmp_path), 48)
    assert small.images.shape == (3, 48, 48, 3)
    # Halving with the triangle filter: weights 1/8, 3/8, 3/8, 1/8 along each axis.
    w = np.array([1, 3, 3, 1]) / 8.0
    window = np.transpose(images, (0, 2, 3, 1))[1, 19:23, 39:43, 2].astype(np.float64)
    assert abs(int(small.images[1, 10, 20, 2]) - w @ window @ w) <= 1


def test_stl10_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        stl10.load(str(tmp_path / "nope"), 48)
    with pytest.raises(UserError, match=r"holds no stl10_binary/unlabeled_X.bin"):
        stl10.load(str(tmp_path), 48)
    path = _write_stl(str(tmp_path), np.zeros((2, 3, 96, 96), np.uint8))
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(UserError, match="not a whole number of 3x96x96 uint8 images"):
        stl10.load(str(tmp_path), 48)
    os.truncate(path, (stl10.MAX_IMAGES + 1) * stl10.IMAGE_BYTES)  # sparse: nothing is written
    with pytest.raises(UserError, match="holds 100001 images; STL-10's unlabelled set has 100000"):
        stl10.load(str(tmp_path), 48)
