"""The split step during training: feature pass -> rule -> tree allocation -> surgery, then a record.

A split runs between two training iterations, from a Keras callback. It changes only variable
values, so training continues in the same compiled step with the same optimizers.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np

from splitgan_keras import faults
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.split import (allocation, features as features_lib, recovery as recovery_lib, rule as rule_lib,
                                  surgery)


@dataclasses.dataclass(frozen=True)
class SplitResult:
    iteration: int                 # the schedule entry (0-based iteration the split followed)
    classes_before: int
    classes_after: int
    recovery: Optional[dict]       # recovery.subclass_recovery, when the data has hidden sub-classes
    record_dir: str

    def summary(self) -> str:
        text = "split after iteration %d: %d -> %d classes" % (self.iteration, self.classes_before, self.classes_after)
        if self.recovery:
            text += "; hidden sub-class recovery: mean adjusted Rand index %.3f, mean purity %.3f" % (
                recovery_lib.mean(self.recovery, "ari"), recovery_lib.mean(self.recovery, "purity"))
        return text


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
      batch_size: the critic batch, the feature normalisation's groups; feature_norm: "batch" | "image".
      records: where each split is recorded, an object with record_dir(iteration) -> str and
        write(result, plan, before, after) (train/split_records.SplitRecords; None: nowhere, on a
        process that is not the chief);
      seed: of the feature pass's dequantisation noise.
    """

    def __init__(self, gan, data: ImageData, rule, batch_size: int, feature_norm: str,
                 records, seed: int):
        self.gan, self.data, self.rule = gan, data, rule
        self.batch_size, self.feature_norm = batch_size, feature_norm
        self.records = records
        self.feature_pass = features_lib.FeaturePass(gan.critic, seed, replicas=gan.replicas)
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
        found = (None if self.data.subclasses is None else
                 recovery_lib.subclass_recovery(before.labels, plan, classes_before, self.data.subclasses))
        result = SplitResult(iteration, classes_before, len(after.parents), found,
                             self.records.record_dir(iteration) if self.records else "")
        if self.records:
            self.records.write(result, plan, before, after)
        self.history.append(result)
        return result
