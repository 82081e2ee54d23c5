"""The split step during training: feature pass -> rule -> tree allocation -> surgery, then a record.

A split runs between two training iterations, from a Keras callback. It changes only variable
values, so training continues in the same compiled step with the same optimizers.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import numpy as np

from splitgan_keras import faults
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.models.networks import CRITIC_BLOCKS
from splitgan_keras.split import (allocation, features as features_lib, recovery as recovery_lib, rule as rule_lib,
                                  surgery)


@dataclasses.dataclass(frozen=True)
class SplitResult:
    iteration: int                 # the schedule entry (0-based iteration the split followed)
    classes_before: int
    classes_after: int
    recovery: Optional[dict]       # recovery.subclass_recovery, when labelled classes hide sub-classes
    partition: Dict[str, Dict[str, float]]  # recovery.partition_scores of the classes after the split ({}: no truth)
    record_dir: str

    def summary(self) -> str:
        """What the split did and, where the data set hides something, how well the classes find it: with labelled
        classes, per split class against its sub-classes; the whole partition against the hidden groups (on the
        first line when that is all), and against what the images show on the next."""
        text = "split after iteration %d: %d -> %d classes" % (self.iteration, self.classes_before, self.classes_after)
        if self.recovery:
            text += "; hidden sub-class recovery: mean adjusted Rand index %.3f, mean purity %.3f" % (
                recovery_lib.mean(self.recovery, "ari"), recovery_lib.mean(self.recovery, "purity"))
        lines = [recovery_lib.describe({name: scores}) for name, scores in self.partition.items()]
        if lines and not self.recovery:
            text += "; " + lines.pop(0)
        return "\n  ".join([text, "; ".join(lines)] if lines else [text])


@dataclasses.dataclass(frozen=True)
class SplitState:
    """One side of a split: labels int32 [N], tree float32 [M, M], parents int32 [C]."""

    labels: np.ndarray
    tree: np.ndarray
    parents: np.ndarray


class ClassSplitter:
    """Performs splits on a SplitGAN trained on `data` and records them.

    Args:
      gan: the SplitGAN; data: its training set, in data-set order.
      rule: what to split (rule.TwoMeansRule or any object with its `plan` method).
      batch_size: the critic batch, the feature normalisation's groups; feature_norm: "batch" | "image";
      feature_blocks: after how many critic blocks the features are taken (features.FeaturePass).
      records: where each split is recorded, an object with record_dir(iteration) -> str and
        write(result, plan, before, after) (train/split_records.SplitRecords; None: nowhere, on a
        process that is not the chief);
      seed: of the feature pass's dequantisation noise.
    """

    def __init__(self, gan, data: ImageData, rule, batch_size: int, feature_norm: str,
                 records, seed: int, feature_blocks: int = CRITIC_BLOCKS):
        self.gan, self.data, self.rule = gan, data, rule
        self.batch_size, self.feature_norm = batch_size, feature_norm
        self.records = records
        self.feature_pass = features_lib.FeaturePass(gan.critic, seed, replicas=gan.replicas, blocks=feature_blocks)
        self.history: List[SplitResult] = []

    def split(self, iteration: int, dequant_noise: Optional[np.ndarray] = None) -> SplitResult:
        state = self.gan.generator.class_state
        before = SplitState(self.gan.example_labels.numpy(), state.tree(), state.parents())
        classes_before = len(before.parents)
        raw = self.feature_pass(self.data.images, iteration, dequant_noise)
        features = features_lib.normalize(raw, self.batch_size, self.feature_norm)
        plan = self.rule.plan(features, before.labels, classes_before)
        rule_lib.check_plan(plan, before.labels, classes_before)
        tree_after = allocation.allocate(before.tree, classes_before, plan.parent_of_child)
        surgery.apply_split(plan, tree_after, self.gan)
        faults.point("split.applied")
        after = SplitState(plan.labels, tree_after, state.parents())
        # Per split class only where the data set's labels made the classes: in an unsupervised run a class's
        # share of the hidden groups is a small part of them, and the whole partition says more.
        found = (None if self.data.subclasses is None or self.data.num_classes == 1 else
                 recovery_lib.subclass_recovery(before.labels, plan, classes_before, self.data.subclasses))
        partition = recovery_lib.partition_scores(plan.labels, recovery_lib.hidden_truths(self.data))
        result = SplitResult(iteration, classes_before, len(after.parents), found, partition,
                             self.records.record_dir(iteration) if self.records else "")
        if self.records:
            self.records.write(result, plan, before, after)
        self.history.append(result)
        return result
