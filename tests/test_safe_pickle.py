"""CIFAR-10's pickled batches are read without running anything they name (data/safe_pickle.py)."""
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from conftest import write_cifar_batches
from splitgan_keras.data import cifar10, safe_pickle
from splitgan_keras.errors import UserError


class _RunsACommand:
    """Pickles as a call of os.system: what a planted batch would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, ("touch %s" % self.marker,)


def _archive(folder, path):
    with tarfile.open(path, "w:gz") as archive:
        for name in cifar10.BATCH_FILES:
            archive.add(os.path.join(folder, name), "%s/%s" % (cifar10.ARCHIVE_FOLDER, name))
    return str(path)


def test_a_batch_that_names_a_command_is_refused_unrun_in_a_folder_and_in_an_archive(tmp_path):
    marker = tmp_path / "ran"
    folder = write_cifar_batches(str(tmp_path / "cifar-10-batches-py"),
                                 corrupt=lambda b: {**b, b"batch_label": _RunsACommand(marker)})
    assert pickle.load(open(os.path.join(folder, "data_batch_3"), "rb"), encoding="bytes")  # a plain load runs it
    assert marker.exists()
    marker.unlink()
    for source in (folder, _archive(folder, tmp_path / "cifar-10-python.tar.gz")):
        with pytest.raises(UserError) as info:
            cifar10.load(source)
        message = str(info.value)
        assert "data_batch_3" in message and "%s.system" % os.name in message and "refused" in message
        assert "\n" not in message
        assert not marker.exists()


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 wrote its str (SHORT_BINSTRING / BINSTRING), as in the real batches."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_python2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def _real_layout_batch(rng, n=12):
    return {b"batch_label": b"training batch 1 of 5", b"labels": [int(x) for x in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"image_%d.png" % i for i in range(n)]}


@pytest.mark.parametrize("writer", ["python2", "python3", "numpy2"])
def test_every_known_layout_of_the_real_batches_loads(writer):
    batch = _real_layout_batch(np.random.default_rng(1))
    buffer = io.BytesIO()
    (_Python2Pickler if writer == "python2" else pickle.Pickler)(buffer, protocol=2).dump(batch)
    data = buffer.getvalue()
    if writer == "python2":
        assert b"_codecs" not in data and b"numpy.core.multiarray\n_reconstruct" in data
    else:
        assert b"_codecs\nencode" in data
    if writer == "numpy2":  # numpy 2 names its reconstructor under numpy._core
        data = data.replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
    loaded = safe_pickle.load(io.BytesIO(data), "batch")
    assert sorted(loaded) == sorted(batch)
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == batch[b"labels"] and loaded[b"filenames"] == batch[b"filenames"]
    assert loaded[b"batch_label"] == batch[b"batch_label"]


@pytest.mark.parametrize("payload, refused", [
    (b"\x80\x02cbuiltins\neval\nX\x06\x00\x00\x001 + 1\x85R.", "builtins.eval"),
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.", "codec 'zlib'"),
    (b"\x80\x02cnumpy\nndarray\n.", None),  # allowed names alone are harmless
])
def test_names_outside_plain_data_are_refused(payload, refused):
    if refused is None:
        assert safe_pickle.load(io.BytesIO(payload), "x") is np.ndarray
        return
    with pytest.raises(UserError, match=refused):
        safe_pickle.load(io.BytesIO(payload), "file.pkl")


def test_an_array_larger_than_the_bound_is_refused_before_allocating():
    huge = np.zeros(4, np.uint8)
    data = pickle.dumps(huge, protocol=2)
    # The reconstructor's shape argument, (0,), asks for 2**40 elements instead.
    data = data.replace(b"K\x00\x85", b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85", 1)
    with pytest.raises(UserError, match="more than"):
        safe_pickle.load(io.BytesIO(data), "file.pkl")
