"""What the benchmarks share (single.py, replicas.py): the configuration their flags describe,
synthetic data, timed calls and timed Model.fit iterations."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import config as config_lib, config_checks
from splitgan_keras.cli import flags
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.train import build

TINY = {"model.width": 8, "model.image_size": 16, "train.batch_size": 4}  # --tiny: compute too small to matter
BENCH_DEFAULTS = {"runtime.device": "cpu"}  # where the benchmark measures unless told otherwise


def bench_config(args) -> config_lib.Config:
    """The configuration the benchmark's command line describes: the reference one (the defaults,
    on the CPU), then --tiny, then --config, --set and the settings' flags as train.py reads them."""
    layers = [("the benchmark's defaults", BENCH_DEFAULTS)] + ([("--tiny", TINY)] if args.tiny else [])
    cfg = config_lib.resolve(layers + flags.overrides(args))
    config_checks.validate(cfg)
    return cfg


def time_calls(fn: Callable[[], object], repeats: int, warmup: int) -> List[float]:
    """Wall times of `repeats` calls after `warmup` untimed ones (the first traces)."""
    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return times


def sync(result):
    """Waits for the result's values (TF may return before computing on accelerators)."""
    for value in tf.nest.flatten(result):
        if hasattr(value, "numpy"):
            value.numpy()


def summary(times: List[float], flops: Optional[float], ceiling: float, unit: str = "s") -> Dict[str, float]:
    median = statistics.median(times)
    result = {"median": median, "min": min(times), "max": max(times), "unit": unit, "runs": len(times)}
    if flops:
        result.update(gflop=flops / 1e9, gflops_per_s=flops / median / 1e9,
                      fraction_of_ceiling=flops / median / 1e9 / ceiling)
    return result


def synthetic(n: int, size: int, classes: int = 10) -> ImageData:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return ImageData(images, (np.arange(n) % classes).astype(np.int32), classes, "synthetic uint8")


class _BatchClock(tf.keras.callbacks.Callback):
    """The time at the end of every Model.fit call of the training step. A callback that takes
    numpy logs makes Keras wait for each call's results, so the times are those of finished work."""

    def __init__(self):
        super().__init__()
        self.times: List[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def fit_iterations(cfg, data, runtime, gan, iterations: int, repeats: int, ceiling: float,
                   flops: Optional[float]) -> dict:
    """Seconds per iteration as training runs them: one Model.fit on the runtime's replicas,
    `iterations_per_call` per call, timed in `repeats` windows of `iterations` after a first window
    that traces. One fit for all windows, as a training run has: the end of a fit costs time
    that a run pays once (measured: with two MultiWorkerMirrored workers at width 64, 4.5 s to
    release the iterator, 1.6 iterations' worth). Against iteration_s (one direct call per
    iteration) this shows the host overhead."""
    per_call = cfg.runtime.iterations_per_call
    calls = max(1, iterations // per_call)  # per window
    clock = _BatchClock()
    gan.fit(build.training_inputs(cfg, data, runtime, 0), epochs=1, steps_per_epoch=calls * per_call * (repeats + 1),
            verbose=0, callbacks=[clock])
    ends = clock.times[calls - 1::calls]  # the end of each window; the first one ends the warm-up
    times = [(b - a) / (calls * per_call) for a, b in zip(ends, ends[1:])]
    return dict(summary(times, flops, ceiling), iterations_per_call=per_call)
