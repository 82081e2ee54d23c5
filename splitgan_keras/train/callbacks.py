"""Keras callbacks that act at iteration boundaries: signals, the non-finite guard, class splits,
checkpoints, progress, sample grids and evaluations.

Each reads the completed-iteration counter of the SplitGAN (which survives resumes) rather
than Keras' per-fit batch index.
"""
from __future__ import annotations

import collections
import io
import math
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf
from PIL import Image

from splitgan_keras import faults
from splitgan_keras.artefacts import pictures, sampling
from splitgan_keras.evaluate.metrics import per_class
from splitgan_keras.errors import NonFiniteError
from splitgan_keras.models.gan import STOP_REQUESTED


def every(completed: int, n: int) -> bool:
    """True after every n-th completed iteration; n = 0 means never."""
    return n > 0 and completed % n == 0


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return "%dh%02dm" % (hours, rest // 60) if hours else "%dm%02ds" % divmod(rest, 60)


class IterationCallback(tf.keras.callbacks.Callback):
    """A callback of a SplitGAN's fit; `completed()` counts iterations across resumes."""

    def completed(self) -> int:
        return int(self.model.iteration.numpy())


class StopOnSignal(IterationCallback):
    """Turns SIGTERM and SIGINT into a stop after the current iteration (a second one stops at once).

    With several replicas the stop is agreed: a signal to any process sets the model's stop
    request before the next iteration, the iteration averages it over the replicas, and every
    process stops after that iteration (they must, or the others would wait in a collective).
    `received` names the signal afterwards, so the caller can checkpoint and say how to resume.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)
    ELSEWHERE = "a signal to another replica's process"

    def __init__(self, replicas: int = 1):
        super().__init__()
        self.replicas = replicas
        self.received: Optional[str] = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received:
            signal.signal(signum, signal.SIG_DFL)
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self):
        """Installs the handlers for the duration of a `with` block (fit and the final checkpoint)."""
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def on_train_batch_begin(self, batch, logs=None):
        if self.received and self.replicas > 1:
            self.model.request_stop()

    def on_train_batch_end(self, batch, logs=None):
        faults.point("iteration.end")
        if self.replicas == 1:
            self.model.stop_training = bool(self.received)
        elif (logs or {}).get(STOP_REQUESTED, 0.0) > 0:
            self.received = self.received or self.ELSEWHERE
            self.model.stop_training = True


class NonFiniteGuard(IterationCallback):
    """Stops training when a loss term or gradient norm is NaN or infinite, before any later
    callback can checkpoint the broken state. Put it first.

    With dynamic loss scaling an infinite gradient is a skipped step, not an error: the skips
    (logged by the training step as `*/skipped`, as the optimizer decided them) are counted in
    `skipped` and in the logs. When a network's steps keep being skipped with its loss scale at
    its floor (1) for STALLED_ITERATIONS iterations in a row, training no longer moves, and it stops.
    """

    STALLED_ITERATIONS = 20

    def __init__(self, loss_scaling: bool, history: int = 20):
        super().__init__()
        self.loss_scaling = loss_scaling
        self.recent = collections.deque(maxlen=history)
        self.skipped = collections.Counter()
        self.stalled = collections.Counter()  # network prefix -> iterations in a row skipped at the floor
        self._last_good = 0

    def on_train_begin(self, logs=None):
        self._last_good = self.completed()

    def on_train_batch_end(self, batch, logs=None):
        completed = self.completed()
        logs = logs if logs is not None else {}
        for key in [k for k in logs if k.endswith("/skipped")]:
            self.skipped[key] += int(logs[key])
            logs[key + "_total"] = float(self.skipped[key])
            network = key.split("/")[0]
            at_floor = float(logs[key]) > 0 and float(logs.get(network + "/loss_scale", 2.0)) <= 1.0
            self.stalled[network] = self.stalled[network] + 1 if at_floor else 0
            if self.stalled[network] >= self.STALLED_ITERATIONS:
                raise NonFiniteError(
                    "the %s's updates were skipped in each of the last %d iterations (up to %d) with its loss scale at "
                    "its floor (1): fp16 overflows that loss scaling cannot remove, so training no longer moves; the "
                    "run stopped without saving it. Resume from the last checkpoint with --precision fp32 (on the NPU "
                    "with an --npu-precision-mode that keeps fp16 out, such as must_keep_origin_dtype)"
                    % ({"d": "critic", "g": "generator"}.get(network, network), self.STALLED_ITERATIONS, completed))
        self.recent.append(dict(iteration=completed, **{k: float(v) for k, v in logs.items()}))
        bad = {k: float(v) for k, v in logs.items() if not math.isfinite(float(v))
               and not (self.loss_scaling and k.endswith("/grad_norm"))}
        if bad:
            key = sorted(bad)[0]
            raise NonFiniteError(
                "non-finite %s (%s) in iteration%s %s; the run stopped without saving it"
                % (key, bad[key], "s" if completed - self._last_good > 1 else "",
                   "%d..%d" % (self._last_good + 1, completed) if completed - self._last_good > 1 else completed))
        self._last_good = completed


class ProgressReport(IterationCallback):
    """Every `every` iterations: all logs, iterations/s and images/s as scalars of the run's log
    (run_log.RunLog), and one progress line (iterations/s, images/s, ETA, main losses) on `stream`.
    Images/s counts the real images the critic reads, `images_per_iteration` (its batch times its
    steps, over all replicas): the throughput Ascend's ModelZoo reports as FPS."""

    SHOWN = ("d/cost", "d/wgan", "d/gp", "d/acgan", "g/cost", "d/acc_real")

    def __init__(self, run_log, every: int, end: int, images_per_iteration: int, stream=None):
        super().__init__()
        self.run_log, self.every, self.end = run_log, every, end
        self.images_per_iteration = images_per_iteration
        self.stream = stream or sys.stdout

    def on_train_begin(self, logs=None):
        self._mark = (self.completed(), time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        completed = self.completed()
        if not (every(completed, self.every) or completed == self.end):
            return
        last_completed, last_time = self._mark
        now = time.perf_counter()
        rate = (completed - last_completed) / max(now - last_time, 1e-9)
        self._mark = (completed, now)
        images = rate * self.images_per_iteration
        self.run_log.scalars(dict(logs or {}, **{"perf/iterations_per_second": rate, "perf/images_per_second": images}),
                             completed)
        shown = "  ".join("%s %.4f" % (k, logs[k]) for k in self.SHOWN if logs and k in logs)
        eta = format_duration((self.end - completed) / rate) if rate > 0 else "?"
        print("iteration %d/%d  %.2f it/s  %.1f img/s  ETA %s  %s" % (completed, self.end, rate, images, eta, shown),
              file=self.stream, flush=True)


class ClassSplitCallback(IterationCallback):
    """Splits the classes after every scheduled iteration (splitter.ClassSplitter), then
    checkpoints the new state. Put it first, so that later callbacks see the split model."""

    def __init__(self, splitter, schedule, store, stream=None):
        super().__init__()
        self.splitter, self.schedule, self.store = splitter, set(schedule), store
        self.stream = stream or sys.stdout

    def on_train_batch_end(self, batch, logs=None):
        finished = self.completed() - 1  # the original's 0-based number of the iteration just done
        if finished in self.schedule:
            result = self.splitter.split(finished)
            print(result.summary(), file=self.stream, flush=True)
            self.store.save()


class PeriodicCheckpoint(IterationCallback):
    """Saves a training checkpoint every `every` iterations."""

    def __init__(self, store, every: int):
        super().__init__()
        self.store, self.every = store, every

    def on_train_batch_end(self, batch, logs=None):
        if every(self.completed(), self.every):
            self.store.save()


def grid_path(samples_dir: str, completed: int) -> str:
    return os.path.join(samples_dir, "iteration_%07d.png" % completed)


class SampleGrids(IterationCallback):
    """Every `every` iterations: a grid with one labelled row of `per_class` samples per active
    class (the same noise each time, so the grids show progress), as a PNG and as a TensorBoard
    image `samples`.

    Args:
      class_labels: returns a row label per active class (pictures.class_labels).
      run_log: the run's log (run_log.RunLog).
    """

    def __init__(self, source: sampling.GeneratorSource, samples_dir: str, every: int, per_class: int, seed: int,
                 class_labels: Callable[[], List[str]], run_log):
        super().__init__()
        self.source, self.samples_dir = source, samples_dir
        self.every, self.per_class, self.seed = every, per_class, seed
        self.class_labels, self.run_log = class_labels, run_log

    def on_train_batch_end(self, batch, logs=None):
        completed = self.completed()
        if every(completed, self.every):
            self.write(completed)

    def write(self, completed: int) -> str:
        path = grid_path(self.samples_dir, completed)
        image = pictures.class_grid(self.source, self.per_class, self.seed, self.class_labels(),
                                    "iteration %d" % completed)
        pictures.write_png(path, image)
        self.run_log.image("samples", image, completed)
        return path


class PeriodicEvaluation(IterationCallback):
    """Every `every` iterations: the named metrics (metrics.registry), as scalars eval/<name> of
    the run's log (and a chart eval/<name>/chart of the per-class metrics), an entry {"iteration": N,
    <name>: value, "protocols": {metric: its protocol}} of `history` (handed to `record` after each
    evaluation) and one line on `stream`; optionally offers `best_metric` to a BestCheckpoint after
    `best_after` iterations.

    Args:
      history: the evaluations of the iterations before this session (a resumed run's).
      record: called with the whole history after each evaluation (the chief writes it), or None.
    """

    def __init__(self, evaluator, names: List[str], source, every: int, run_log, seed: int,
                 best=None, best_metric: str = "", best_after: int = 0, stream=None,
                 history: Optional[List[Dict[str, Any]]] = None,
                 record: Optional[Callable[[List[Dict[str, Any]]], None]] = None, run_dir: str = ""):
        super().__init__()
        self.run_dir = run_dir
        self.evaluator, self.names, self.source = evaluator, names, source
        self.every, self.run_log, self.seed = every, run_log, seed
        self.best, self.best_metric, self.best_after = best, best_metric, best_after
        self.stream = stream or sys.stdout
        self.history, self.record = list(history or []), record

    def on_train_begin(self, logs=None):
        # Evaluations after the checkpoint this session starts from are repeated, not kept twice.
        self.history = [entry for entry in self.history if entry["iteration"] <= self.completed()]

    def on_train_batch_end(self, batch, logs=None):
        completed = self.completed()
        if not every(completed, self.every):
            return
        report = self.evaluator.report(self.names, self.source, self.seed,
                                       {"run_dir": os.path.abspath(self.run_dir), "iteration": completed})
        results = report.values
        self.run_log.scalars({"eval/" + key: value for key, value in results.items()}, completed)
        for name, figures in report.tables.items():
            chart = per_class.chart(name, figures, "%s after iteration %d" % (name, completed))
            pixels = np.asarray(Image.open(io.BytesIO(chart)).convert("RGB"))
            self.run_log.image("eval/%s/chart" % name, pixels, completed)
        self.history.append(dict({"iteration": completed, "protocols": report.protocols},
                                 **{key: float(v) for key, v in results.items()}))
        if self.record:
            self.record(self.history)
        line = "evaluation after iteration %d: %s" % (completed, self.evaluator.format(results))
        if (self.best is not None and self.best_metric in results and completed > self.best_after
                and self.best.offer(results[self.best_metric], completed)):
            line += " (best so far: checkpoint kept)"
        print(line, file=self.stream, flush=True)
