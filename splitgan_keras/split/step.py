"""The split step during training: feature pass -> rule -> tree allocation -> surgery -> records.

A split runs between two training iterations, from a Keras callback. It changes only variable
values, so training continues in the same compiled step with the same optimizers.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from splitgan_keras import faults
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.split import allocation, features as features_lib, recovery, rule as rule_lib, surgery
from splitgan_keras.split.records import SplitRecords, SplitResult, SplitState


class ClassSplitter:
    """Performs splits on a SplitGAN trained on `data` and records them.

    Args:
      gan: the SplitGAN; data: its training set, in data-set order.
      rule: what to split (rule.TwoMeansRule or any object with its `plan` method).
      batch_size: the critic batch, the feature normalisation's groups; feature_norm: "batch" | "image".
      records: where each split is recorded (None: nowhere, on a process that is not the chief);
      seed: of the feature pass's dequantisation noise.
    """

    def __init__(self, gan, data: ImageData, rule, batch_size: int, feature_norm: str,
                 records: Optional[SplitRecords], seed: int):
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
                 recovery.subclass_recovery(before.labels, plan, classes_before, self.data.subclasses))
        result = SplitResult(iteration, classes_before, len(after.parents), found,
                             self.records.record_dir(iteration) if self.records else "")
        if self.records:
            self.records.write(result, plan, before, after)
        self.history.append(result)
        return result
