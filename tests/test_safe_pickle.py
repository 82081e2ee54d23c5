"""Hostile data files: CIFAR-10's pickled batches are read without running anything they name, within the
bounds of what the data set can be, and every refusal is one line naming the file (data/safe_pickle.py, cifar10.py)."""
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

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
    # The real batches were written by numpy 1, which names its reconstructor under numpy.core; numpy 2 (this
    # process's, on the newest stack) writes numpy._core. Each layout is made the same whichever numpy runs here.
    data = buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    if writer == "python2":
        assert b"_codecs" not in data and b"numpy.core.multiarray\n_reconstruct" in data
    else:
        assert b"_codecs\nencode" in data
    if writer == "numpy2":  # numpy 2 names its reconstructor under numpy._core
        data = data.replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
    loaded = safe_pickle.loads(data, "batch")
    assert sorted(loaded) == sorted(batch)
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == batch[b"labels"] and loaded[b"filenames"] == batch[b"filenames"]
    assert loaded[b"batch_label"] == batch[b"batch_label"]


@pytest.mark.parametrize("payload, refused", [
    (b"\x80\x02cbuiltins\neval\nX\x06\x00\x00\x001 + 1\x85R.", "builtins.eval"),
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.", "other than of latin-1 text"),
    (b"\x80\x02cnumpy\nndarray\n.", "a bare reference to numpy.ndarray"),  # a name is never a value
    # numpy.ndarray(shape) allocates what the file asks for, uninitialised: never called.
    (b"\x80\x02cnumpy\nndarray\nJ\x00\xe1\xf5\x05\x85\x85R.", "a call of numpy.ndarray"),
    (b"\x80\x02cos\nsystem\n.", "os.system"),
    (b"\x80\x02cnumpy\ndtype\n.", "a bare reference"),
    (b"\x80\x02]q\x00h\x00a.", "holds itself"),  # a list holding itself
    (b"\x80\x02}q\x00K\x01h\x00s.", "holds itself"),
    (b"\x80\x02]K\x01K\x02.", "ends with 3 values"),
    (b"\x80\x02]\x94h\x05.", "never stored"),
    (b"\x80\x02]K\x01e.", "without its MARK"),
    (b"\x80\x02}]K\x01s.", "a dict key that is a list"),
    (b"\x80\x02}K\x01K\x02K\x03s.", "fills a dict applied to a int"),
    (b"\x80\x02P1\n.", "PERSID"),  # persistent ids are the caller's callables
    (b"\x80\x02]K\x01\x85\x94b.", "a BUILD of a list"),
])
def test_anything_but_plain_data_is_refused_in_one_line(payload, refused):
    with pytest.raises(UserError, match=refused) as info:
        safe_pickle.loads(payload, "file.pkl")
    assert str(info.value).startswith("file.pkl ") and "\n" not in str(info.value)


def _array_pickle(array):
    return pickle.dumps(array, protocol=2)


@pytest.mark.parametrize("dtype", [
    "V8", "O", [("a", "u1"), ("b", "O")], [("a", "u1")], [("a", "u1", (2,))], "U3", "S3", "M8[s]", "c16", "f16",
    np.dtype("u1", metadata={"x": 1})])
def test_only_plain_number_dtypes_make_arrays(dtype):
    """Object, structured, subarray, void, string, time and metadata dtypes are refused, whatever
    their state (issue 35's V8 dtype that holds an object field among them)."""
    with pytest.raises(UserError, match="numpy dtype"):
        safe_pickle.loads(_array_pickle(np.zeros(2, dtype)), "batch")


def test_a_dtype_state_other_than_a_plain_types_is_refused():
    plain = _array_pickle(np.zeros(2, np.uint8))
    assert safe_pickle.loads(plain, "batch").dtype == np.uint8
    state = b"K\x03X\x01\x00\x00\x00|q\x17NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
    assert state.replace(b"q\x17", b"") in plain.replace(plain[plain.index(b"X\x01\x00\x00\x00|") + 6:][:2], b"")
    for changed, why in [
        (b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t", b"J\x10\x00\x00\x00J\xff\xff\xff\xffK\x00t"),  # elsize 16
        (b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t", b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x3ft"),  # object flags
        (b"X\x01\x00\x00\x00|", b"X\x01\x00\x00\x00>"),  # a byte order for one byte
        (b"K\x03X", b"K\x04X"),  # another state version
    ]:
        with pytest.raises(UserError, match="numpy dtype"):
            safe_pickle.loads(plain.replace(changed, why, 1), "batch")


def test_an_array_is_made_only_from_exactly_the_bytes_it_needs():
    plain = _array_pickle(np.arange(4, dtype=np.uint8))
    np.testing.assert_array_equal(safe_pickle.loads(plain, "b"), np.arange(4))
    # The reconstructor's own shape, (0,), is never used: 2**40 elements there change nothing.
    assert safe_pickle.loads(plain.replace(b"K\x00\x85", b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85", 1), "b").shape == (4,)
    for shape in (b"K\x05\x85", b"J\x00\xe1\xf5\x05\x85", b"K\x02K\x03\x86", b"J\xff\xff\xff\xff\x85"):
        with pytest.raises(UserError, match="numpy array of shape"):
            safe_pickle.loads(plain.replace(b"K\x04\x85", shape, 1), "b")


def _shared_lists_bomb(levels=3, width=1000):
    """A few KB whose lists, each holding the one below `width` times, expand to width**levels."""
    out = [b"\x80\x02]q\x00(" + b"K\x01" * width + b"e"]
    for level in range(1, levels):
        out.append(b"]q%s(" % bytes([level]) + b"h%s" % bytes([level - 1]) * width + b"e")
    return b"".join(out) + b"."


def test_bombs_are_refused_before_they_grow():
    bomb = _shared_lists_bomb()
    assert len(bomb) < 10000
    with pytest.raises(UserError, match="more than 1000000 values in one container"):
        safe_pickle.loads(bomb, "labels.pkl")
    deep = b"\x80\x02]" + b"\x85" * 10 ** 6 + b"."  # a tuple in a tuple ... a million deep
    with pytest.raises(UserError, match="nested more than 16 deep"):
        safe_pickle.loads(deep, "deep.pkl")
    with pytest.raises(UserError, match="more than 1048576 remembered values"):
        safe_pickle.loads(b"\x80\x02N" + b"\x94" * (safe_pickle.MAX_MEMO + 1) + b".", "memo.pkl")
    many = b"\x80\x02" + (b"](" + b"K\x01" * 60000 + b"e") * 80 + b"."  # 80 lists of 60000, under the per-list bound
    with pytest.raises(UserError, match="more than 4194304 values in all"):
        safe_pickle.loads(many, "many.pkl")
    wide = b"\x80\x02" + b"N" * (safe_pickle.MAX_STACK + 1) + b"."
    with pytest.raises(UserError, match="more than 65536 values on the pickle's stack"):
        safe_pickle.loads(wide, "wide.pkl")


@pytest.mark.parametrize("payload", [
    b"\x80\x02L" + b"9" * 10 ** 6 + b"L\n.",  # protocol 0's long: quadratic to convert before Python 3.11
    b"\x80\x02c" + b"x" * 10 ** 6 + b"\nname\n.",
    b"\x80\x02\x8b\x00\x00\x10\x00" + b"\x01" * (1 << 20) + b".",  # LONG4 of a megabyte
])
def test_numbers_and_text_instructions_without_end_are_refused_at_once(payload):
    with pytest.raises(UserError, match="longer than 4096 bytes|beyond 64 bits"):
        safe_pickle.loads(payload, "long.pkl")


def test_a_shared_list_cannot_grow_after_it_was_put_into_another():
    with pytest.raises(UserError, match="changed after it was put into another"):
        safe_pickle.loads(b"\x80\x02]q\x00]h\x00ah\x00K\x01a.", "grow.pkl")


def _batch_bytes(batch, writer=pickle.Pickler):
    buffer = io.BytesIO()
    writer(buffer, protocol=2).dump(batch)
    return buffer.getvalue()


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], 3: b"x", "x": 1}, None),  # mixed key types
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"\xff\xfe": 1}, None),  # a key not UTF-8
    ({b"\xff": 1, 2.5: 3}, "a dict key that is a float"),
    ({b"\xff\xfe": 1, 7: 2}, "keys b'\\\\xff\\\\xfe', 7; expected 'data' and 'labels' once each"),
    ({b"data": np.zeros((2, 3072), np.uint8), "data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]},
     "expected 'data' and 'labels' once each"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 2 ** 62]}, r"labels must lie in 0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 2 ** 70]}, "a number beyond 64 bits"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1.0]}, r"'labels' must be 2 integers, got a list"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [[0], [1]]}, r"'labels' must be 2 integers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": np.zeros((2, 1), np.int64)}, r"'labels' must be 2 int"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [np.zeros(8, np.uint8), np.zeros(8, np.uint8)]},
     r"'labels' must be 2 integers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": np.array([1, 9], np.int64)}, None),
])
def test_a_batchs_structure_is_checked_before_it_is_converted(batch, message):
    data = _batch_bytes(batch)
    if message is None:
        images, labels = cifar10._parse_batch(data, "data_batch_1")
        assert images.shape == (2, 32, 32, 3) and labels.dtype == np.int32
        return
    with pytest.raises(UserError, match=message) as info:
        cifar10._parse_batch(data, "data_batch_1")
    assert str(info.value).startswith("data_batch_1") and "\n" not in str(info.value)


def _write_archive(folder, path, opener, compress_level=None):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in sorted(os.listdir(folder)):
            archive.add(os.path.join(folder, name), "%s/%s" % (cifar10.ARCHIVE_FOLDER, name))
    path.write_bytes(opener(buffer.getvalue()))
    return str(path)


@pytest.mark.parametrize("compress", ["gzip", "bz2", "xz", "none"])
def test_archives_in_every_compression_load_and_corrupt_ones_are_one_line(tmp_path, compress):
    import bz2
    import gzip
    import lzma
    opener = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress, "none": bytes}[compress]
    folder = write_cifar_batches(str(tmp_path / "cifar-10-batches-py"), per_batch=10)
    archive = tmp_path / "cifar-10-python.tar.gz"
    _write_archive(folder, archive, opener)
    np.testing.assert_array_equal(cifar10.load(str(archive)).images, cifar10.load(folder).images)
    good = archive.read_bytes()
    if compress == "none":
        return
    for where in (len(good) // 2, len(good) - 6):  # the compressed stream, and (gzip) the CRC in the trailer
        bad = bytearray(good)
        bad[where] ^= 0xFF
        archive.write_bytes(bytes(bad))
        with pytest.raises(UserError, match="cannot read .*cifar-10-python.tar.gz") as info:
            cifar10.load(str(archive))
        assert "\n" not in str(info.value)


def test_archive_members_and_the_whole_archive_are_bounded(tmp_path, monkeypatch):
    import gzip
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(str(folder), per_batch=10)
    (folder / "data_batch_2").write_bytes(b"\x00" * (cifar10.MAX_BATCH_BYTES + 1))  # 64 MB of zeros: 65 KB packed
    archive = tmp_path / "cifar-10-python.tar.gz"
    _write_archive(str(folder), archive, lambda b: gzip.compress(b, compresslevel=1))
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(UserError, match="data_batch_2 is a file of %d bytes; a CIFAR-10 batch is a file of at most"
                       % (cifar10.MAX_BATCH_BYTES + 1)):
        cifar10.load(str(archive))
    with pytest.raises(UserError, match="data_batch_2 has %d bytes; a CIFAR-10 batch has at most"
                       % (cifar10.MAX_BATCH_BYTES + 1)):
        cifar10.load(str(folder))
    write_cifar_batches(str(folder), per_batch=10)
    (folder / "padding").write_bytes(os.urandom(300000))
    _write_archive(str(folder), archive, gzip.compress)
    monkeypatch.setattr(cifar10, "MAX_ARCHIVE_BYTES", 200000)
    with pytest.raises(UserError, match="decompresses to more than 200000 bytes"):
        cifar10.load(str(archive))


# Opcode streams made of what a numpy pickle uses, the names it may mention and a few it may not.
_TOKENS = [
    b"}", b"]", b")", b"(", b"a", b"e", b"s", b"u", b"t", b"\x85", b"\x86", b"\x87", b"l", b"d", b"N", b"\x88",
    b"\x89", b"K\x00", b"K\x09", b"K\x0a", b"J\xff\xff\xff\xff", b"J\x00\x00\x00\x40", b"\x8a\x09" + b"\xff" * 9,
    b"G\x7f\xf8\x00\x00\x00\x00\x00\x00", b"U\x04data", b"U\x06labels", b"X\x04\x00\x00\x00data",
    b"X\x06\x00\x00\x00latin1", b"U\x02u1", b"U\x02V8", b"U\x02O8", b"U\x01|", b"U\x01b",
    b"T\x00\x0c\x00\x00" + bytes(3072), b"C\x03abc", b"q\x00", b"q\x01", b"h\x00", b"h\x01", b"\x94",
    b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\nndarray\n", b"cnumpy\ndtype\n", b"c_codecs\nencode\n",
    b"c__builtin__\nbytes\n", b"cos\nsystem\n", b"\x93", b"R", b"b", b".", b"0", b"2", b"\x80\x02",
]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60), st.binary(max_size=8))
def test_random_opcode_streams_end_in_a_batch_or_one_line(tokens, tail):
    data = b"\x80\x02" + b"".join(tokens) + tail
    try:
        images, labels = cifar10._parse_batch(data, "fuzz_batch")
    except UserError as e:
        assert str(e).startswith("fuzz_batch") and "\n" not in str(e)
    else:
        assert images.dtype == np.uint8 and labels.dtype == np.int32 and len(images) == len(labels)


@settings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_a_real_batch_mutated_ends_in_a_batch_or_one_line(data):
    good = _batch_bytes(_real_layout_batch(np.random.default_rng(0), n=3), _Python2Pickler)
    mutated = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "insert":
            mutated[at:at] = data.draw(st.sampled_from(_TOKENS))
        else:
            del mutated[at:at + data.draw(st.integers(1, 8))]
    try:
        cifar10._parse_batch(bytes(mutated), "fuzz_batch")
    except UserError as e:
        assert str(e).startswith("fuzz_batch") and "\n" not in str(e)
