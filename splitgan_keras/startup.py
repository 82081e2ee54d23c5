"""The start of a several-process job, bounded in time and stoppable by a signal.

Until every task of a TF_CONFIG job has joined, TensorFlow waits inside C++ for the missing
ones: its collective timeout does not cover that wait, and Python runs no signal handler while
the main thread is there, so a peer that never comes would hold the process for ever and
SIGTERM would be swallowed. `bounded` runs the start-up under a watcher thread: Python's C-level
handler writes every SIGTERM and SIGINT to a wakeup pipe (signal.set_wakeup_fd) from whichever
thread the kernel picked, and the watcher reads it. A signal, or the deadline, ends the process
with one line that names the tasks whose port did not answer. The check of a port is a
diagnosis only; the job's traffic stays TensorFlow's.
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
from typing import Callable, List, Tuple

from splitgan_keras.errors import INTERRUPTED, one_line

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# (task type, index, "host:port") of one task of the job
Task = Tuple[str, int, str]


def _silent(task: Task) -> bool:
    """Whether nothing accepts a connection at the task's address (it has not started its server)."""
    host, _, port = task[2].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return False
    except OSError:
        return True


def _describe_silent(others: List[Task]) -> str:
    silent = [t for t in others if _silent(t)]
    if not silent:
        return "every other task's port answers, but they did not all join (are they running this same job?)"
    return "%s did not answer" % ", ".join("%s %d (%s)" % t for t in silent)


def _end(status: int, message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(one_line(message) + "\n")
    sys.stderr.flush()
    os._exit(status)  # the main thread is inside TensorFlow's wait and cannot be unwound


def _watch(signals: int, done: int, others: List[Task], timeout: float, end: Callable[[int, str], None],
           taken: List[int]) -> None:
    """Waits for the start-up to finish (a byte on `done`), a signal (its number on `signals`: put
    in `taken`), or the deadline."""
    readable, _, _ = select.select([signals, done], [], [], timeout)
    if done in readable:
        return
    if not readable:
        end(2, "error: the job did not start within %g s (runtime.collective_timeout): %s; start every task of "
               "TF_CONFIG's cluster, or check its addresses and the network" % (timeout, _describe_silent(others)))
    else:
        taken.append(os.read(signals, 1)[0])
        end(INTERRUPTED, "stopped by %s while waiting for the job's other tasks to start (%s); nothing was written"
            % (signal.Signals(taken[0]).name, _describe_silent(others)))


@contextlib.contextmanager
def bounded(others: List[Task], timeout: float, end: Callable[[int, str], None] = _end):
    """Runs the block (the job's start-up, up to its first collective) under the watcher.

    Args:
      others: the job's other tasks.
      timeout: seconds the block may take.
      end: how the watcher ends the process (status, one line); tests give another.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread: another thread's start-up runs unwatched
        return
    signals, signal_writer = os.pipe()
    done, done_writer = os.pipe()
    os.set_blocking(signal_writer, False)  # the C handler must never block
    noted, taken = [], []
    previous_fd = signal.set_wakeup_fd(signal_writer)
    # A Python handler must be installed for the C handler to write the byte; this one notes the
    # signal, in case the block ends before the watcher reads it.
    previous = {s: signal.signal(s, lambda signum, frame: noted.append(signum)) for s in STOP_SIGNALS}
    watcher = threading.Thread(target=_watch, args=(signals, done, others, timeout, end, taken), name="startup-watcher",
                               daemon=True)
    watcher.start()
    try:
        yield
    finally:
        os.write(done_writer, b"x")
        watcher.join()
        signal.set_wakeup_fd(previous_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        for fd in (signals, signal_writer, done, done_writer):
            os.close(fd)
        if noted and not taken:  # came as the start-up ended: handled as it would have been without us
            os.kill(os.getpid(), noted[0])
