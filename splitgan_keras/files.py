"""Atomic, durable writes of files and folders: a reader sees the old version or the new one,
never a partial one, and once a write has returned it survives a power loss.

Durability: a file is fsynced before it is renamed into place, and the folder that holds the
rename is fsynced after it (a rename lives in the folder's entries). A staged folder is synced
file by file and folder by folder before its rename. `sync_files` does the same for files that
another library wrote (TensorFlow's checkpoints).

Temporary names beside a target <name>: ".<name>.splitgan-tmp-*" (a write under way) and
".<name>.splitgan-old-*" (a replaced folder, between the two renames). Only these are ever
removed as the leftovers of a killed write; anything else beside the target is the user's.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from typing import BinaryIO, Callable, Iterable


def _read_umask() -> int:
    """The process's umask. Linux shows it in /proc/self/status; elsewhere it can only be read by
    setting it, which is done once, at import, before the threads of a run start (the umask is
    the process's: a moment at 0 would widen what another thread creates)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _as_if_created(path: str, directory: bool) -> None:
    """Gives a temporary file or folder (mkstemp / mkdtemp: owner only) the permissions that the
    user's umask gives anything created normally."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_UMASK)


def _own_prefix(path: str) -> str:
    """The start of every temporary name beside `path` that its atomic writes use."""
    return "." + os.path.basename(path) + ".splitgan-"


def _temp_prefix(path: str) -> str:
    return _own_prefix(path) + "tmp-"


def _retired_prefix(path: str) -> str:
    return _own_prefix(path) + "old-"


def _remove_stale(parent: str, path: str) -> None:
    """Removes what an earlier, killed write of `path` left beside it (only the names it uses)."""
    for name in os.listdir(parent):
        if name.startswith(_own_prefix(path)):
            stale = os.path.join(parent, name)
            shutil.rmtree(stale, ignore_errors=True) if os.path.isdir(stale) else os.remove(stale)


def sync_directory(path: str) -> None:
    """Flushes a folder's entries (the files created, renamed or removed in it) to disk."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Iterable[str]) -> None:
    """Flushes files written by others (TensorFlow does not fsync) and then their folders."""
    folders = set()
    for path in paths:
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        folders.add(os.path.dirname(os.path.abspath(path)))
    for folder in sorted(folders):
        sync_directory(folder)


def sync_tree(path: str) -> None:
    """Flushes every file and folder under `path`, the deepest first."""
    for root, _, names in os.walk(path, topdown=False):
        sync_files(os.path.join(root, name) for name in names)
        sync_directory(root)


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, flushes it to disk, renames it into place
    and flushes the folder."""
    write_with(path, lambda f: f.write(data))


def write_with(path: str, write: Callable[[BinaryIO], object]) -> None:
    """As write_bytes, with what `write` writes to the open file (e.g. np.save streaming an array
    that a bytes copy would double)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _remove_stale(directory, path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _as_if_created(tmp, directory=False)
        os.replace(tmp, path)
        sync_directory(directory)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, value) -> None:
    write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


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
            sync_directory(parent)
            return True
    return False


@contextlib.contextmanager
def staged_directory(path: str):
    """Yields a temporary folder beside `path`; on success it replaces `path` (a folder) whole.

    On an error the temporary folder is removed and `path` keeps its old contents. Between the
    two renames of a replacement `path` is briefly missing, never partial; a kill right then
    leaves the old folder retired beside it, and the next write or `restore_retired` puts it back.
    Everything staged is on disk before the rename, and the rename before this returns.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    restore_retired(path)
    _remove_stale(parent, path)
    staging = tempfile.mkdtemp(dir=parent, prefix=_temp_prefix(path))
    _as_if_created(staging, directory=True)
    try:
        yield staging
        sync_tree(staging)
        retired = None
        if os.path.exists(path):
            retired = tempfile.mkdtemp(dir=parent, prefix=_retired_prefix(path))
            os.rename(path, os.path.join(retired, "old"))
        os.rename(staging, path)
        sync_directory(parent)
        if retired:
            shutil.rmtree(retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def content_sha256(paths: Iterable[str], root: str) -> str:
    """SHA-256 over files: each one's path relative to `root` (with "/"), a NUL, and its bytes, in the order
    given. What identifies a checkpoint, a SavedModel or an Inception module that a figure was computed with."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def tree_files(folder: str) -> list:
    """The paths of the files under `folder`, in path order (links to folders are not followed)."""
    return sorted(os.path.join(top, name) for top, _, names in os.walk(folder) for name in names)
