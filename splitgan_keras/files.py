"""Atomic writes of files and folders: a reader sees the old version or the new one, never a
partial one."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_if_created(path: str, directory: bool) -> None:
    """Gives a temporary file or folder (mkstemp / mkdtemp: owner only) the permissions that the
    user's umask gives anything created normally."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _temp_prefix(path: str) -> str:
    """Hidden names beside `path` that its atomic writes use: ".<name>."."""
    return "." + os.path.basename(path) + "."


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
    _remove_stale(directory, _temp_prefix(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _as_if_created(tmp, directory=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, value) -> None:
    write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def _retired_prefix(path: str) -> str:
    return _temp_prefix(path) + "old."


def restore_retired(path: str) -> bool:
    """Puts back the folder a replacement retired, when a kill between its two renames left `path`
    missing. Returns whether it did."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) or not os.path.isdir(parent):
        return False
    for name in sorted(os.listdir(parent)):
        old = os.path.join(parent, name, "old")
        if name.startswith(_retired_prefix(path)) and os.path.isdir(old):
            os.rename(old, path)
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
            return True
    return False


@contextlib.contextmanager
def staged_directory(path: str):
    """Yields a temporary folder beside `path`; on success it replaces `path` (a folder) whole.

    On an error the temporary folder is removed and `path` keeps its old contents. Between the
    two renames of a replacement `path` is briefly missing, never partial; a kill right then
    leaves the old folder retired beside it, and the next write or `restore_retired` puts it back.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    restore_retired(path)
    _remove_stale(parent, _temp_prefix(path))
    staging = tempfile.mkdtemp(dir=parent, prefix=_temp_prefix(path))
    _as_if_created(staging, directory=True)
    try:
        yield staging
        retired = None
        if os.path.exists(path):
            retired = tempfile.mkdtemp(dir=parent, prefix=_retired_prefix(path))
            os.rename(path, os.path.join(retired, "old"))
        os.rename(staging, path)
        if retired:
            shutil.rmtree(retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
