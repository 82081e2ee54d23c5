"""JSON from outside (config files, the run's own JSON files, TF_CONFIG), read strictly.

Python's json module accepts what a person's record should not silently contain: a key given
twice (the last one wins, the first is lost without a word), and NaN or Infinity. Both are
refused here, the text is bounded before it is parsed, and every refusal is one UserError line
naming what was read.
"""
from __future__ import annotations

import json
from typing import Any

from splitgan_keras.errors import UserError, shown

MAX_FILE_BYTES = 16 << 20  # a run's evaluation history is the largest: a few MB after 100k iterations


class _Invalid(ValueError):
    pass


def _object(pairs):
    seen = set()
    for key, _ in pairs:  # one pass: an object of many keys from outside costs linear time
        if key in seen:
            raise _Invalid("key %s is given twice (which one was meant?)" % shown(key))
        seen.add(key)
    return dict(pairs)


def _constant(name: str):
    raise _Invalid("%s is not a JSON number" % name)


def parse(text: str, what: str) -> Any:
    """The JSON value of `text`; UserError "<what> is not valid JSON: why" otherwise."""
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except RecursionError:  # nesting deeper than any of our files has
        raise UserError("%s is not valid JSON: nested too deep" % what) from None
    except ValueError as e:
        raise UserError("%s is not valid JSON: %s" % (what, shown(str(e), quote=False))) from None


def read(path: str, what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The JSON value in file `path`, of at most `max_bytes`; errors say "<what> <path>"."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise UserError("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
    if len(data) > max_bytes:
        raise UserError("%s %s has more than %d bytes, more than such a file holds" % (what, path, max_bytes))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError("%s %s is not UTF-8 text (byte %d)" % (what, path, e.start)) from None
    return parse(text, "%s %s" % (what, path))
