"""Atomic writes of files and folders: a reader sees the old version or the new one, never a
partial one."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile


def _remove_stale(parent: str, prefix: str) -> None:
    """Removes what an earlier, killed write of the same target left beside it."""
    for name in os.listdir(parent):
        if name.startswith(prefix):
            stale = os.path.join(parent, name)
            shutil.rmtree(stale, ignore_errors=True) if os.path.isdir(stale) else os.remove(stale)


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, flushes it to disk, then renames it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _remove_stale(directory, "." + os.path.basename(path) + ".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, value) -> None:
    write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def staged_directory(path: str):
    """Yields a temporary folder beside `path`; on success it replaces `path` (a folder) whole.

    On an error the temporary folder is removed and `path` keeps its old contents. Between the
    two renames of a replacement `path` is briefly missing, never partial.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    _remove_stale(parent, "." + os.path.basename(path) + ".")
    staging = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(path) + ".")
    try:
        yield staging
        retired = None
        if os.path.exists(path):
            retired = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(path) + ".old.")
            os.rename(path, os.path.join(retired, "old"))
        os.rename(staging, path)
        if retired:
            shutil.rmtree(retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
