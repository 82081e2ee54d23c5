"""Reading pickled numpy data from files of unknown origin (CIFAR-10's python batches).

A plain `pickle.load` calls whatever a file names, so a downloaded file could run any command.
This unpickler resolves only the names that a pickled dict of lists, bytes and numpy arrays
needs, and refuses every other one with a one-line UserError naming the file and the name.

The names allowed, and why (the real CIFAR-10 batches are protocol-2 pickles written by Python 2):
  numpy.core.multiarray._reconstruct   how numpy 1.x pickles an array (numpy 2: numpy._core...)
  numpy.ndarray, numpy.dtype            the array's class and dtype, rebuilt from plain state
  _codecs.encode                        how Python 3's protocol 2 stores bytes (latin-1 only here)
"""
from __future__ import annotations

import codecs
import pickle
from typing import Any, BinaryIO

import numpy as np

from splitgan_keras.errors import UserError

# numpy's own array reconstructor, found without importing a module path that numpy 2 deprecates.
_NUMPY_RECONSTRUCT = np.zeros(0).__reduce__()[0]
# Largest array a pickle may ask `_reconstruct` to allocate: the real batches hold 30 MB each.
MAX_ARRAY_BYTES = 1 << 31


def _reconstruct(subtype, shape, dtype):
    """numpy's `_reconstruct`, for ndarray itself and a bounded size."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("an array of class %r" % (subtype,))
    itemsize = np.dtype(dtype).itemsize
    if int(np.prod(shape, dtype=np.float64)) * itemsize > MAX_ARRAY_BYTES:
        raise pickle.UnpicklingError("an array of shape %s (more than %d bytes)" % (tuple(shape), MAX_ARRAY_BYTES))
    return _NUMPY_RECONSTRUCT(subtype, shape, dtype)


def _latin1_encode(text, encoding="utf-8"):
    """`_codecs.encode` as protocol 2 uses it for bytes: latin-1 text to bytes, no other codec."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode with codec %r" % encoding)
    return codecs.encode(text, "latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RefusedName(pickle.UnpicklingError):
    """The file names something outside the allowed set."""


class _NumpyDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise RefusedName("%s.%s" % (module, name)) from None


def load(f: BinaryIO, where: str, what: str = "a pickle of plain data") -> Any:
    """Unpickles `f` (Python 2's str read as bytes), allowing only plain containers, bytes, str,
    numbers and numpy arrays.

    Raises:
      UserError: naming `where`, for a name outside the allowed set (nothing it names is called)
        or a file that is not a readable pickle (`what` it should have been).
    """
    try:
        return _NumpyDataUnpickler(f, encoding="bytes").load()
    except RefusedName as e:
        raise UserError("%s names %s, which a data file has no need of; refused without running it (is the file "
                        "from the data set's own site?)" % (where, e))
    except Exception as e:  # a corrupt pickle raises many types (EOFError, ValueError, MemoryError...)
        raise UserError("%s is not %s (%s: %s)" % (where, what, type(e).__name__, (str(e).splitlines() or [""])[0]))
