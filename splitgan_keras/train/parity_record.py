"""train.py --parity-record: a few deterministic iterations from scratch, recorded (parity.py)."""
from __future__ import annotations

from typing import Optional

from splitgan_keras import config as config_lib, parity
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.train import build, callbacks


def record_parity(cfg: config_lib.Config, path: str, iterations: int, data: Optional[ImageData] = None) -> None:
    """Runs `iterations` deterministic iterations from scratch and writes a parity record to `path`.

    Nothing else is written; scheduled class splits are not run.
    """
    if iterations < 1:
        raise UserError("--parity-iterations must be at least 1, got %d" % iterations)
    cfg = config_lib.with_overrides(cfg, {"runtime.deterministic": True, "runtime.iterations_per_call": 1},
                                    "parity record")  # every iteration recorded
    runtime, data, gan = build.prepare(cfg, data)
    print("parity record: %d iterations | %s | %s" % (iterations, runtime.describe(), data.source), flush=True)
    recorder = callbacks.ParityRecorder(gan.generator, data.num_classes, cfg.train.seed)
    gan.fit(build.training_inputs(cfg, data, runtime, 0), epochs=1, steps_per_epoch=iterations, verbose=0,
            callbacks=[recorder])
    if runtime.replicas.is_chief:
        parity.write(path, cfg, runtime, recorder.entries)
        print("wrote %s" % path, flush=True)
