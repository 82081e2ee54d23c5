"""Named fault-injection points, for the crash-safety tests.

`point(name)` does nothing unless the environment variable SPLITGAN_KILL_AT names this point
(optionally with the occurrence, e.g. "checkpoint.written:2"). Then the process kills itself
with SIGKILL, exactly as an out-of-memory killer or a preempting scheduler would, at a moment a
test chooses instead of a moment that a sleep would have to guess.
"""
from __future__ import annotations

import collections
import os
import signal

ENV = "SPLITGAN_KILL_AT"
_seen = collections.Counter()


def point(name: str) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    wanted, _, occurrence = target.partition(":")
    if wanted != name:
        return
    _seen[name] += 1
    if _seen[name] == int(occurrence or 1):
        os.kill(os.getpid(), signal.SIGKILL)
