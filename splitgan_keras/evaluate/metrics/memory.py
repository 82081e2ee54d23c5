"""Whether the samples' features an evaluation keeps fit in the memory this process may still use, checked before
anything is drawn: a metric that cannot fit is refused in one line with the count that fits, not ended by the
kernel or a MemoryError an hour later.

The samples are drawn and scored in chunks (registry.DrawnSamples), so what grows with the sample count is what
is kept of each sample: its Inception outputs (logits and pool_3), or the probe's features, or (for a metric that
reads them) the images. The check asks for twice that, room for one working copy (KID's and precision and
recall's arrays, the real images' features).
"""
from __future__ import annotations

import resource
from typing import Dict, Iterable, Optional, Tuple

from splitgan_keras.errors import UserError
from splitgan_keras.metric_names import Metric

WORKING_COPIES = 2
_KEPT = {"inception": "Inception outputs", "probe": "probe features", "images": "image"}  # by MetricKind.draws


def _proc_kib(path: str, key: str) -> Optional[int]:
    """A "key: N kB" line of a /proc file, in bytes; None where the file or line is not there."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            text = f.read().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def available_bytes() -> Optional[int]:
    """The memory this process can still take: the least of the machine's available memory, its cgroup's limit
    less its use (v2 or v1), and the address-space and data limits (ulimit -v, -d) less what it holds. None
    where none of them can be read (not Linux)."""
    bounds = [_proc_kib("/proc/meminfo", "MemAvailable")]
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit_bytes, used_bytes = _read_int(limit), _read_int(used)
        if limit_bytes is not None and used_bytes is not None and limit_bytes < 1 << 60:
            bounds.append(limit_bytes - used_bytes)
    for rlimit, held in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft, _ = resource.getrlimit(rlimit)
        held_bytes = _proc_kib("/proc/self/status", held)
        if soft != resource.RLIM_INFINITY and held_bytes is not None:
            bounds.append(soft - held_bytes)
    known = [b for b in bounds if b is not None]
    return max(0, min(known)) if known else None


def _gib(n: float) -> str:
    return "%.1f GiB" % (n / 2 ** 30) if n >= 2 ** 28 else "%.0f MiB" % (n / 2 ** 20)


def check(kept: Dict[Tuple[int, bool, str], int], metrics: Iterable[Metric], num_active: int) -> None:
    """Raises UserError when the features kept for `metrics` do not fit, naming the largest metric and the
    sample count that would fit.

    Args:
      kept: bytes kept per sample of each (samples, per_class, draws) of the evaluation (registry.DrawnSamples).
      metrics: the evaluation's metrics.
      num_active: the source's classes (a per-class metric draws samples of every class).
    """
    available = available_bytes()
    if available is None:
        return

    def drawn(samples: int, per_class: bool) -> int:
        return samples * (num_active if per_class else 1)

    need = WORKING_COPIES * sum(drawn(samples, per_class) * size for (samples, per_class, _), size in kept.items())
    if need <= available:
        return
    biggest = max((m for m in metrics if m.kind.draws), key=lambda m: drawn(m.samples, m.kind.per_class))
    size = kept[(biggest.samples, biggest.kind.per_class, biggest.kind.draws)]
    fits = available // (WORKING_COPIES * size * (num_active if biggest.kind.per_class else 1))
    raise UserError("%s keeps %s of %s per sample, for %d samples%s: the evaluation needs %s with working copies, "
                    "and this process can take %s; use %s (or fewer samples)"
                    % (biggest.name, _gib(size) if size >= 2 ** 20 else "%d bytes" % size, _KEPT[biggest.kind.draws],
                       drawn(biggest.samples, biggest.kind.per_class),
                       " (%d classes)" % num_active if biggest.kind.per_class else "", _gib(need), _gib(available),
                       biggest.kind.name(max(int(fits), 0)) if fits >= biggest.kind.least else "a smaller metric"))
