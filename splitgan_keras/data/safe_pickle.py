"""Reading pickled numpy data from files of unknown origin (CIFAR-10's python batches).

A pickle is a program: `pickle.load` calls whatever a file names, with arguments the file chooses,
so even an allow-list of harmless-looking callables lets a file build memory-unsafe numpy dtypes or
allocate what it likes. This module does not run the program. It walks the opcodes (`pickletools`
parses them without acting on them) with a stack machine of its own that knows the one structure
the format has: dicts, lists and tuples of bytes, str and numbers, and numpy arrays of plain numeric
dtypes. The few names a numpy pickle mentions are recognised as markers and never called; an array
is made only from numpy's `_reconstruct` + BUILD pattern, from exactly the bytes its shape and dtype
need, with `np.frombuffer`. Everything else is refused with a one-line UserError naming the file.

Bounds, so that a small file cannot ask for much memory, time or recursion:
  - `MAX_ITEMS` values in any one container, counting a shared container once per use, and
    `MAX_VALUES` values and containers in all; `MAX_MEMO` values remembered for reuse;
  - `MAX_DEPTH` levels of nesting;
  - `MAX_STACK` values on the stack and `MAX_ARRAYS` arrays; numbers within 64 bits; text
    instructions of `MAX_LINE` bytes;
  - a container cannot change after it was put into another (no cycles, no growing shared lists).
The caller bounds the file's size (cifar10.py: what a batch can be).
"""
from __future__ import annotations

import io
import pickletools
import struct
from typing import Any, Dict, List

import numpy as np

from splitgan_keras.errors import UserError, shown

MAX_ITEMS = 1_000_000  # a CIFAR-10 batch holds 2 x 10000 list items
MAX_VALUES = 1 << 22  # values put into containers in all, and containers made: a batch has ~20000
MAX_MEMO = 1 << 20  # values the file refers to again: a batch has ~10000 (its file names)
MAX_DEPTH = 16  # a batch is 2 deep (dict -> list -> value)
MAX_STACK = 1 << 16  # picklers write lists in runs of 1000 items
MAX_ARRAYS = 64  # a batch holds one
MAX_LINE = 4096  # the text of a name or a protocol-0 value; the real batches (protocol 2) use names only

# Plain numeric dtypes an array may have: numpy's pickled type codes. Object, structured, subarray,
# void, string and datetime dtypes are refused.
_DTYPE_CODES = frozenset("b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8".split())
_DTYPE_STATE_TAIL = (None, None, None, -1, -1, 0)  # no subarray, names or fields; default size, flags


class _Name:
    """A global the file mentions: a marker for a pattern below, never called."""

    def __init__(self, text: str):
        self.text = text


_RECONSTRUCT, _NDARRAY, _DTYPE, _ENCODE, _BYTES = (
    _Name(t) for t in ("numpy _reconstruct", "numpy.ndarray", "numpy.dtype", "_codecs.encode", "bytes"))
# Why each name: numpy 1.x and 2.x pickle an array as _reconstruct(ndarray, (0,), b'b') + BUILD
# and its dtype as dtype(code, False, True) + BUILD; Python 3's protocol 2 writes bytes as
# _codecs.encode(text, 'latin1'), and empty bytes as bytes() (under Python 2's name __builtin__).
_NAMES = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("_codecs", "encode"): _ENCODE,
    ("__builtin__", "bytes"): _BYTES,
    ("builtins", "bytes"): _BYTES,
}


class _Pending:
    """An array or dtype between its REDUCE and its BUILD; `value` once built."""

    def __init__(self, kind: _Name, code: str = ""):
        self.kind, self.code, self.value = kind, code, None


class Refused(ValueError):
    """The file holds something outside the plain-data structure; the message says what."""


class RefusedName(Refused):
    """The file names a global outside the few a numpy pickle mentions."""


_TEXT_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING"}  # Python 2's str: bytes (pickletools gives latin-1 text)
_CONSTANT_OPS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}  # pickletools gives no argument
_VALUE_OPS = _TEXT_OPS | {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
    "BINFLOAT", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
    "BINUNICODE8"}


class _Lines(io.BytesIO):
    """The file as pickletools reads it, with text instructions (names, protocol 0's numbers and
    strings) bounded: converting a line of millions of digits to a number takes quadratic time."""

    def readline(self, size=-1):
        line = super().readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise Refused("a text instruction longer than %d bytes" % MAX_LINE)
        return line


class _Walker:
    """The stack machine. Containers are plain dicts, lists and tuples; their sizes and depths
    are kept beside them (keyed by id, the objects held alive in `_made`)."""

    def __init__(self):
        self.stack: List[Any] = []
        self.marks: List[int] = []
        self.memo: Dict[int, Any] = {}
        self._made: List[Any] = []
        self._size: Dict[int, int] = {}
        self._depth: Dict[int, int] = {}
        self._sealed = set()
        self._arguments = set()  # tuples that hold a marker
        self._arrays = 0
        self._values = 0  # put into containers so far

    def run(self, data: bytes) -> Any:
        for op, arg, _ in pickletools.genops(_Lines(data)):
            name = op.name
            if name in _CONSTANT_OPS:
                self._push(_CONSTANT_OPS[name])
            elif name in _VALUE_OPS:
                if type(arg) is int and not -(1 << 63) <= arg < 1 << 64:  # no field of the format needs more
                    raise Refused("a number beyond 64 bits")
                self._push(arg.encode("latin-1") if name in _TEXT_OPS else arg)
            elif name == "STOP":
                if len(self.stack) != 1 or self.marks:
                    raise Refused("a pickle that ends with %d values on its stack" % len(self.stack))
                return self._resolved(self.stack.pop())
            else:
                handler = getattr(self, "_op_" + name.lower(), None)
                if handler is None:
                    raise Refused("the pickle instruction %s, which plain data has no need of" % name)
                handler(arg)
        raise Refused("a pickle without its end")

    # Values and containers.

    def _push(self, value):
        if len(self.stack) >= MAX_STACK:
            raise Refused("more than %d values on the pickle's stack" % MAX_STACK)
        self.stack.append(value)

    def _pop(self):
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise Refused("an instruction with too few values before it")
        return self.stack.pop()

    def _pop_to_mark(self) -> list:
        if not self.marks:
            raise Refused("a MARK-delimited instruction without its MARK")
        start = self.marks.pop()
        items, self.stack[start:] = self.stack[start:], []
        return items

    def _new(self, container, items=()):
        if len(self._made) >= MAX_VALUES:
            raise Refused("more than %d containers" % MAX_VALUES)
        self._made.append(container)
        self._size[id(container)], self._depth[id(container)] = 1, 1
        self._add(container, items)
        return container

    def _add(self, container, items):
        """Accounts for `items` put into `container` (their sizes and depths), sealing them."""
        if id(container) in self._sealed and type(container) is not tuple:
            raise Refused("a container changed after it was put into another (a cycle or a growing shared list)")
        size, depth = self._size[id(container)], self._depth[id(container)]
        self._values += len(items)
        if self._values > MAX_VALUES:
            raise Refused("more than %d values in all" % MAX_VALUES)
        for item in items:
            item = self._resolved(item)
            if item is container:
                raise Refused("a container that holds itself")
            if id(item) in self._size:
                self._sealed.add(id(item))
                size += self._size[id(item)]
                depth = max(depth, self._depth[id(item)] + 1)
            else:
                size += 1
        if size > MAX_ITEMS:
            raise Refused("more than %d values in one container" % MAX_ITEMS)
        if depth > MAX_DEPTH:
            raise Refused("containers nested more than %d deep" % MAX_DEPTH)
        self._size[id(container)], self._depth[id(container)] = size, depth

    def _resolved(self, value):
        """`value`, or the array or dtype a finished `_Pending` holds; refuses anything unfinished."""
        if isinstance(value, _Pending):
            if value.value is None:
                raise Refused("an array or dtype used before its contents")
            return value.value
        if isinstance(value, _Name):
            raise Refused("a bare reference to %s" % value.text)
        if id(value) in self._arguments:
            raise Refused("the arguments of numpy's constructors used as data")
        return value

    def _container(self, kind) -> Any:
        target = self._pop()
        if type(target) is not kind or id(target) not in self._size:
            raise Refused("an instruction that fills a %s applied to %s" % (kind.__name__, _describe(target)))
        return target

    def _op_mark(self, _):
        self.marks.append(len(self.stack))

    def _op_empty_list(self, _):
        self._push(self._new([]))

    def _op_empty_dict(self, _):
        self._push(self._new({}))

    def _op_empty_tuple(self, _):
        self._push(self._new(()))

    def _op_list(self, _):
        items = self._pop_to_mark()
        target = self._new([], items)
        target.extend(self._resolved(i) for i in items)
        self._push(target)

    def _op_tuple(self, _):
        self._tuple(self._pop_to_mark())

    def _op_tuple1(self, _):
        self._tuple([self._pop()])

    def _op_tuple2(self, _):
        self._tuple(reversed([self._pop(), self._pop()]))

    def _op_tuple3(self, _):
        self._tuple(reversed([self._pop(), self._pop(), self._pop()]))

    def _tuple(self, items):
        items = tuple(items)
        markers = [i for i in items if isinstance(i, (_Pending, _Name))]
        if markers:  # the arguments of a REDUCE or BUILD, never data
            self._arguments.add(id(items))
        self._push(self._new(items, [i for i in items if not isinstance(i, (_Pending, _Name))]))

    def _op_append(self, _):
        item = self._pop()
        target = self._container(list)
        self._add(target, [item])
        target.append(self._resolved(item))
        self._push(target)

    def _op_appends(self, _):
        items = self._pop_to_mark()
        target = self._container(list)
        self._add(target, items)
        target.extend(self._resolved(i) for i in items)
        self._push(target)

    def _op_dict(self, _):
        items = self._pop_to_mark()
        target = self._new({})
        self._set_items(target, items)
        self._push(target)

    def _op_setitem(self, _):
        value, key = self._pop(), self._pop()
        target = self._container(dict)
        self._set_items(target, [key, value])
        self._push(target)

    def _op_setitems(self, _):
        items = self._pop_to_mark()
        target = self._container(dict)
        self._set_items(target, items)
        self._push(target)

    def _set_items(self, target: dict, items: list):
        if len(items) % 2:
            raise Refused("a dict given an odd number of keys and values")
        self._add(target, items)
        for key, value in zip(items[::2], items[1::2]):
            if type(key) not in (bytes, str, int):
                raise Refused("a dict key that is %s" % _describe(key))
            target[key] = self._resolved(value)

    # The memo: values the file refers to again.

    def _op_put(self, index):
        if index not in self.memo and len(self.memo) >= MAX_MEMO:
            raise Refused("more than %d remembered values" % MAX_MEMO)
        self.memo[index] = self._top()

    _op_binput = _op_long_binput = _op_put

    def _op_memoize(self, _):
        self._op_put(len(self.memo))

    def _op_get(self, index):
        if index not in self.memo:
            raise Refused("a reference to memo entry %d, which was never stored" % index)
        value = self.memo[index]
        if isinstance(value, _Pending) and value.value is not None:
            value = value.value
        self._push(value)

    _op_binget = _op_long_binget = _op_get

    def _top(self):
        if not self.stack:
            raise Refused("a memo instruction on an empty stack")
        return self.stack[-1]

    def _op_proto(self, version):
        if version > 5:
            raise Refused("pickle protocol %d" % version)

    def _op_frame(self, _):
        pass

    # Names and the patterns that use them.

    def _op_global(self, text):
        module, _, name = text.partition(" ")
        self._push(_lookup(module, name))

    def _op_stack_global(self, _):
        name, module = self._pop(), self._pop()
        if type(module) is not str or type(name) is not str:
            raise Refused("a global named by %s and %s" % (_describe(module), _describe(name)))
        self._push(_lookup(module, name))

    def _op_reduce(self, _):
        args, function = self._pop(), self._pop()
        if not isinstance(function, _Name) or type(args) is not tuple:
            raise Refused("a call of %s" % _describe(function))
        if function is _RECONSTRUCT:
            if len(args) != 3 or args[0] is not _NDARRAY or type(args[2]) not in (bytes, str):
                raise Refused("numpy's _reconstruct with arguments other than numpy's own")
            self._push(_Pending(_NDARRAY))
        elif function is _DTYPE:
            code = _text(args[0]) if args else None
            if len(args) != 3 or code not in _DTYPE_CODES or args[1:] != (False, True):
                raise Refused("a numpy dtype other than a plain number type (%s)" % shown(code))
            self._push(_Pending(_DTYPE, code))
        elif function is _ENCODE:
            if len(args) != 2 or type(args[0]) is not str or _text(args[1]) not in ("latin1", "latin-1"):
                raise Refused("_codecs.encode other than of latin-1 text")
            try:
                self._push(args[0].encode("latin-1"))
            except UnicodeEncodeError:
                raise Refused("_codecs.encode of text that is not latin-1") from None
        elif function is _BYTES and args == ():
            self._push(b"")
        else:
            raise Refused("a call of %s" % function.text)

    def _op_build(self, _):
        state = self._pop()
        target = self._pop()
        if not isinstance(target, _Pending) or target.value is not None:
            raise Refused("a BUILD of %s" % _describe(target))
        if target.kind is _DTYPE:
            target.value = _dtype(target.code, state)
        else:
            self._arrays += 1
            if self._arrays > MAX_ARRAYS:
                raise Refused("more than %d arrays" % MAX_ARRAYS)
            target.value = _array(state)
        self._push(target.value)


def _lookup(module: str, name: str) -> _Name:
    try:
        return _NAMES[(module, name)]
    except KeyError:
        raise RefusedName(shown("%s.%s" % (module, name), quote=False)) from None


def _text(value) -> Any:
    return value.decode("latin-1") if type(value) is bytes else value


def _dtype(code: str, state) -> np.dtype:
    """The dtype numpy pickled as dtype(code) + BUILD(state), for plain number types only."""
    if type(state) is not tuple or len(state) != 8 or state[0] != 3 or state[2:] != _DTYPE_STATE_TAIL:
        raise Refused("a numpy dtype state other than a plain number type's")
    order = _text(state[1])
    one_byte = code[1] == "1" and code != "f1"
    if order not in (("|",) if one_byte else ("<", ">", "=")):
        raise Refused("a numpy dtype %s with byte order %s" % (code, shown(order)))
    return np.dtype(order + code)


def _array(state) -> np.ndarray:
    """The array numpy pickled as _reconstruct + BUILD(state), from exactly the bytes it needs."""
    if type(state) is tuple and len(state) == 5 and state[0] == 1:
        state = state[1:]
    if type(state) is not tuple or len(state) != 4:
        raise Refused("a numpy array state other than (shape, dtype, order, bytes)")
    shape, dtype, fortran, raw = state
    if type(shape) is not tuple or len(shape) > 32 or any(type(n) is not int or not 0 <= n < 1 << 40 for n in shape):
        raise Refused("a numpy array of shape %s" % _describe(shape))
    if not isinstance(dtype, np.dtype) or type(fortran) not in (bool, int) or type(raw) is not bytes:
        raise Refused("a numpy array state other than (shape, dtype, order, bytes)")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(raw):
        raise Refused("a numpy array of shape %s and dtype %s given %d bytes, not %d"
                      % (list(shape), dtype, len(raw), count * dtype.itemsize))
    return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C")


def _describe(value) -> str:
    if isinstance(value, (_Name, _Pending)):
        return "numpy's %s" % (value.text if isinstance(value, _Name) else value.kind.text)
    return "a %s" % type(value).__name__


def loads(data: bytes, where: str, what: str = "a pickle of plain data") -> Any:
    """The plain data pickled in `data` (Python 2's str read as bytes), built without calling
    anything the file names.

    Returns:
      dicts, lists and tuples of bytes, str, int, float, bool, None and numpy arrays of plain
      number dtypes (read-only views of `data`'s copies).

    Raises:
      UserError: one line naming `where`, for a name outside the few a numpy pickle mentions, for
        anything outside the structure or past the bounds, or for a file that is not a readable
        pickle (`what` it should have been).
    """
    try:
        return _Walker().run(data)
    except RefusedName as e:
        raise UserError("%s names %s, which a data file has no need of; refused without running it (is the file "
                        "from the data set's own site?)" % (where, e)) from None
    except Refused as e:
        raise UserError("%s is not %s: it holds %s" % (where, what, e)) from None
    # What pickletools raises for a file that is not a pickle: bad lengths, bad text, bad numbers.
    except (ValueError, struct.error, EOFError, OverflowError) as e:
        reason = (str(e).splitlines() or [""])[0][:200]
        raise UserError("%s is not %s (%s: %s)" % (where, what, type(e).__name__, reason)) from None
