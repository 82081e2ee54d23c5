"""train.py --parity-record: a few deterministic iterations from scratch, recorded (records.py)."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import config as config_lib
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.models.gan import STOP_REQUESTED
from splitgan_keras.models.networks import NOISE_DIM
from splitgan_keras.parity import records
from splitgan_keras.train import build, callbacks


class ParityRecorder(callbacks.IterationCallback):
    """Collects parity-record entries (records.py), one per iteration: the step's logs and statistics
    of the generator's output on fixed noise and labels."""

    PROBE_SIZE = 64

    def __init__(self, generator, num_classes: int, seed: int):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.noise = tf.constant(rng.standard_normal((self.PROBE_SIZE, NOISE_DIM)).astype(np.float32))
        self.labels = tf.constant(rng.integers(0, num_classes, self.PROBE_SIZE).astype(np.int32))
        self.generator = generator
        self.entries: List[Dict[str, float]] = []

    def on_train_batch_end(self, batch, logs=None):
        images = self.generator(self.noise, self.labels).numpy()
        entry = {"iteration": self.completed()}
        entry.update({k: float(v) for k, v in (logs or {}).items() if k != STOP_REQUESTED})
        entry.update({"gen/mean": float(images.mean()), "gen/std": float(images.std()),
                      "gen/min": float(images.min()), "gen/max": float(images.max())})
        self.entries.append(entry)


def record_parity(cfg: config_lib.Config, path: str, iterations: int, data: Optional[ImageData] = None) -> None:
    """Runs `iterations` deterministic iterations from scratch and writes a parity record to `path`.

    Nothing else is written; scheduled class splits are not run.
    """
    if iterations < 1:
        raise UserError("--parity-iterations must be at least 1, got %d" % iterations)
    cfg = config_lib.with_overrides(cfg, {"runtime.deterministic": True, "runtime.iterations_per_call": 1},
                                    "parity record")  # every iteration recorded
    runtime, data, gan = build.prepare(cfg, data)
    print("parity record: %d iterations | %s | %s" % (iterations, runtime.describe(), data.description), flush=True)
    recorder = ParityRecorder(gan.generator, data.num_classes, cfg.train.seed)
    gan.fit(build.training_inputs(cfg, data, runtime, 0), epochs=1, steps_per_epoch=iterations, verbose=0,
            callbacks=[recorder])
    if runtime.replicas.is_chief:
        records.write(path, cfg, runtime, recorder.entries)
        print("wrote %s" % path, flush=True)
