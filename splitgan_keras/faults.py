"""Named fault-injection points, for the crash-safety tests.

`point(name)` does nothing unless the environment variable SPLITGAN_KILL_AT names this point:
"<name>[:<occurrence>[:<signal>]]", several separated by commas (e.g. "checkpoint.written:2", or
"export.staged:1:SIGINT,export.staged:1:SIGINT" for Ctrl-C twice). Then the process sends itself
that signal (SIGKILL by default, exactly as an out-of-memory killer or a preempting scheduler
would), at a moment a test chooses instead of a moment that a sleep would have to guess.
"""
from __future__ import annotations

import collections
import os
import signal

ENV = "SPLITGAN_KILL_AT"
_seen = collections.Counter()


def point(name: str) -> None:
    targets = os.environ.get(ENV)
    if not targets:
        return
    _seen[name] += 1
    for target in targets.split(","):
        wanted, _, rest = target.partition(":")
        occurrence, _, signal_name = rest.partition(":")
        if wanted == name and _seen[name] == int(occurrence or 1):
            os.kill(os.getpid(), signal.Signals[signal_name or "SIGKILL"])
