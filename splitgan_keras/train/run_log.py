"""The run's TensorBoard log, <run>/logs: one writer that every part of a run writes through
(progress scalars, sample grids, evaluations, splits), opened at the first entry (a run that
fails to start writes nothing) and closed when the run ends."""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import tensorflow as tf


class RunLog:
    """TensorBoard summaries of one run. With no folder (a process that does not write the run
    dir) it writes nothing.

    Args:
      log_dir: the TensorBoard folder, or None.
    """

    def __init__(self, log_dir: Optional[str]):
        self.log_dir = log_dir
        self._writer = None

    def _open(self):
        if self._writer is None and self.log_dir:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """One scalar per name, e.g. {"d/cost": 1.2}, at iteration `step`."""
        writer = self._open()
        if writer is None:
            return
        with writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)
        writer.flush()

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        """One uint8 image [H, W, 3] at iteration `step`."""
        writer = self._open()
        if writer is None:
            return
        with writer.as_default():
            tf.summary.image(name, image[None], step=step)
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
