"""Progress lines of long passes ("drawing and scoring 50000 samples for is50k: 20% (10000), 41 s"), one at each
tenth: plain lines that read the same in a terminal and in a log file."""
from __future__ import annotations

import time

SHOWN_FROM = 1000  # items: a shorter pass prints nothing


class Progress:
    """Counts what a pass has done and prints a line at each tenth of `total`.

    Args:
      what: what the pass does ("drawing and scoring 50000 samples for is50k").
      total: how many items the pass has.
      show: print the lines (False: count silently).
    """

    def __init__(self, what: str, total: int, show: bool = True):
        self._what, self._total, self._show = what, total, show and total >= SHOWN_FROM
        self._done, self._next, self._start = 0, 0.1, time.monotonic()

    def add(self, count: int) -> None:
        self._done += count
        if self._show and self._done >= self._next * self._total:
            print("%s: %d%% (%d), %.0f s" % (self._what, 100 * self._done // self._total, self._done,
                                             time.monotonic() - self._start), flush=True)
            while self._next * self._total <= self._done:
                self._next += 0.1
