"""Training checkpoints: everything needed to continue a run exactly.

A checkpoint holds both networks (with the class tree and class count), both optimizers with
their slots and step counts, the completed-iteration counter, the label of every training
example and the random generator's state, plus the dynamic loss scales when there are any. The
optimizers are stored unwrapped and the loss scales apart, so a run may resume on another device
or precision. The data order needs no state: it is a function of the seed and the iteration
(see pipeline.py).
"""
from __future__ import annotations

import json
import math
import os
from typing import Optional

import tensorflow as tf

from splitgan_keras import files, optimizers
from splitgan_keras.errors import UserError

PREFIX = "ckpt"


class TrainingCheckpoints:
    """A CheckpointManager over a SplitGAN; checkpoint numbers are completed iterations."""

    def __init__(self, directory: str, gan, keep: int):
        self.gan = gan
        self.core = dict(
            generator=gan.generator, critic=gan.critic,
            g_optimizer=optimizers.unwrap(gan.g_optimizer), d_optimizer=optimizers.unwrap(gan.d_optimizer),
            iteration=gan.iteration, example_labels=gan.example_labels, rng=gan.rng)
        scales = (("g_loss_scale", optimizers.loss_scale_state(gan.g_optimizer)),
                  ("d_loss_scale", optimizers.loss_scale_state(gan.d_optimizer)))
        self.loss_scales = {name: state for name, state in scales if state is not None}
        self.checkpoint = tf.train.Checkpoint(**self.core, **self.loss_scales)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=keep,
                                                  checkpoint_name=PREFIX)

    def save(self) -> str:
        """Saves the current state as ckpt-<completed iterations>, unless that one exists already."""
        number = int(self.gan.iteration.numpy())
        latest = self.manager.latest_checkpoint
        if latest and latest.endswith("-%d" % number):
            return latest
        return self.manager.save(checkpoint_number=number)

    @property
    def latest(self) -> Optional[str]:
        return self.manager.latest_checkpoint

    def restore(self, path: str) -> None:
        """Restores every tracked object from `path`; all but the loss scales must be in it (a run
        that had none starts its loss scales afresh)."""
        try:
            tf.train.Checkpoint(**self.core).restore(path).assert_existing_objects_matched()
            if self.loss_scales:
                tf.train.Checkpoint(**self.loss_scales).restore(path).expect_partial()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise UserError("checkpoint %s does not fit this model: %s" % (path, str(e).splitlines()[0]))


class BestCheckpoint:
    """Keeps the checkpoint with the highest value of a metric (the original: Inception Score) in
    its own folder, with best.json naming the metric, its value and the iteration."""

    RECORD = "best.json"

    def __init__(self, store: TrainingCheckpoints, directory: str, metric: str):
        self.metric = metric
        self.manager = tf.train.CheckpointManager(store.checkpoint, directory, max_to_keep=1, checkpoint_name=PREFIX)
        self.record = os.path.join(directory, self.RECORD)
        self.best = -math.inf
        if os.path.isfile(self.record):
            with open(self.record) as f:
                self.best = json.load(f)["value"]

    def offer(self, value: float, completed: int) -> bool:
        """Saves the current state if `value` beats the best so far; returns whether it did."""
        if not value > self.best:
            return False
        path = self.manager.save(checkpoint_number=completed)
        files.write_json(self.record, {"metric": self.metric, "value": value, "iteration": completed,
                                       "checkpoint": os.path.basename(path)})
        self.best = value
        return True
