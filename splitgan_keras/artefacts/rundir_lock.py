"""One writer per run dir: an exclusive lock held for the whole of a training run.

Two trainings started on one --run-dir would interleave their config, checkpoints and export.
The writer holds `flock` on <run_dir>/.lock from before it decides between a fresh start and a
resume until it ends, and then removes the file; a second writer gets a one-line error naming
the holder. The kernel drops the lock when its process ends, however it ends, so the file a
killed run leaves behind never blocks the next one.
Readers (eval.py) and the processes of a job that are not its chief take no lock.
"""
from __future__ import annotations

import datetime
import errno
import fcntl
import os
import socket
import stat
import sys

from splitgan_keras.errors import UserError

LOCK_FILE = ".lock"
_MAX_HOLDER_TEXT = 300  # what is shown of a holder's note: the file is in a folder others may write


class RunDirLock:
    """The lock of one run dir. `acquire` takes it (creating the folder if needed), `release`
    drops it and removes a folder that `acquire` created and nothing else used."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_FILE)
        self._fd = None
        self._created_dir = False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Takes the lock, or raises UserError naming the process that holds it."""
        if self.held:
            return
        if os.path.exists(self.run_dir) and not os.path.isdir(self.run_dir):
            raise UserError("--run-dir %s is a file, not a folder; choose another --run-dir" % self.run_dir)
        self._created_dir = not os.path.exists(self.run_dir)
        try:
            os.makedirs(self.run_dir, exist_ok=True)
            while True:
                # O_NOFOLLOW: a link planted as .lock must not make us truncate the file it points to.
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
                try:
                    _check_plain_file_of_ours(fd, self.path)
                except UserError:
                    os.close(fd)
                    raise
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise UserError("--run-dir %s is in use by %s; wait until it ends, or choose another --run-dir"
                                    % (self.run_dir, holder))
                if _same_file(fd, self.path):
                    break
                os.close(fd)  # the holder removed the file as we opened it: lock the one there now
            os.ftruncate(fd, 0)
            os.write(fd, _holder_note().encode())
        except OSError as e:  # resume says the same when there is a run to continue
            if e.errno == errno.ELOOP:
                raise UserError(_NOT_OURS % (self.path, "a symbolic link")) from None
            raise UserError("cannot write into --run-dir %s (its lock %s: %s); fix that, then run the same command "
                            "again" % (self.run_dir, self.path, e.strerror or e))
        self._fd = fd

    def release(self) -> None:
        """Drops the lock and removes its file, and the run dir too when acquire created it and it
        holds nothing else (a start that was refused leaves nothing behind)."""
        if not self.held:
            return
        try:
            os.remove(self.path)  # while still locked: a process that opened it meanwhile retries
            if self._created_dir and not os.listdir(self.run_dir):
                os.rmdir(self.run_dir)
        except OSError:
            pass  # removed or filled by hand meanwhile: nothing of ours to tidy
        os.close(self._fd)
        self._fd = None


_NOT_OURS = ("%s is %s, not the plain file a run's lock is: someone else put it there; remove it if you trust "
             "the folder, or choose another --run-dir")


def _check_plain_file_of_ours(fd: int, path: str) -> None:
    """Refuses a lock that is not a regular file of this user with one name (a FIFO, a device, a
    hard link to another file, another user's file) before anything is written to it."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UserError(_NOT_OURS % (path, "not a regular file"))
    if st.st_uid != os.geteuid():
        raise UserError(_NOT_OURS % (path, "a file of user %d" % st.st_uid))
    if st.st_nlink != 1:
        raise UserError(_NOT_OURS % (path, "a file with %d names (a hard link)" % st.st_nlink))


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:
        return False


def _holder_note() -> str:
    started = datetime.datetime.now().isoformat(timespec="seconds")
    return "process %d on %s since %s (%s)\n" % (os.getpid(), socket.gethostname(), started, " ".join(sys.argv))


def _read_holder(fd: int) -> str:
    """What the holder wrote of itself, as one printable line: shown, never interpreted (anyone
    who can write the folder can write the file)."""
    try:
        text = os.pread(fd, _MAX_HOLDER_TEXT, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    first = text.splitlines()[0] if text.strip() else ""
    return "".join(c if c.isprintable() else " " for c in first).strip() or "another process"
