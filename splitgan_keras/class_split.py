"""Class splitting during training: critic features -> SplitPlan -> surgery -> records.

A split runs between two training iterations, from a Keras callback. It changes only variable
values, so training continues in the same compiled step with the same optimizers.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional

import numpy as np
import tensorflow as tf

from splitgan_keras import faults, files, sampling, splitting, surgery
from splitgan_keras.datasets import ImageData
from splitgan_keras.gan import scale_real

# Images per critic call in the feature pass. The critic has no batch statistics, so this only
# trades memory for speed; the normalisation groups (the critic batch size) are separate.
FEATURE_BATCH = 500
REAL_PER_CLASS = 10


class FeaturePass:
    """Critic features of a whole data set, with fresh dequantisation noise as in training."""

    def __init__(self, critic, rng: tf.random.Generator, batch: int = FEATURE_BATCH):
        self.critic, self.batch = critic, batch

        @tf.function
        def features(pixels, noise):
            if noise is None:
                noise = rng.uniform(pixels.shape, 0.0, 1.0 / 128.0)
            return critic(scale_real(pixels, noise))["features"]

        self._features = features

    def __call__(self, images: np.ndarray, dequant_noise: Optional[np.ndarray] = None) -> np.ndarray:
        """Features float32 [N, D] of uint8 images [N, H, W, 3], in order.

        Every call has the same static batch shape (the last one is padded), as the NPU needs.
        `dequant_noise` (float [N, H, W, 3]) replaces the random noise, for tests.
        """
        n = len(images)
        batch = min(self.batch, n)
        out = np.empty((n, self.critic.width), np.float32)
        for start in range(0, n, batch):
            count = min(batch, n - start)
            pixels = _pad(images[start:start + count], batch)
            noise = None if dequant_noise is None else _pad(dequant_noise[start:start + count], batch).astype(np.float32)
            out[start:start + count] = self._features(tf.constant(pixels), noise).numpy()[:count]
        return out


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    if len(array) == size:
        return array
    return np.concatenate([array, np.zeros((size - len(array),) + array.shape[1:], array.dtype)])


@dataclasses.dataclass(frozen=True)
class SplitResult:
    iteration: int                 # the schedule entry (0-based iteration the split followed)
    classes_before: int
    classes_after: int
    recovery: Optional[dict]       # splitting.subclass_recovery, when the data has hidden sub-classes
    record_dir: str

    def summary(self) -> str:
        text = "split after iteration %d: %d -> %d classes" % (self.iteration, self.classes_before, self.classes_after)
        if self.recovery:
            ari = np.mean([r["ari"] for r in self.recovery.values()])
            purity = np.mean([r["purity"] for r in self.recovery.values()])
            text += "; hidden sub-class recovery: mean adjusted Rand index %.3f, mean purity %.3f" % (ari, purity)
        return text


class ClassSplitter:
    """Performs splits on a SplitGAN trained on `data`, and writes their records."""

    def __init__(self, gan, data: ImageData, split_cfg, group_size: int, seed: int, records_dir: str,
                 log_dir: Optional[str] = None):
        self.gan, self.data, self.cfg = gan, data, split_cfg
        self.group_size, self.seed = group_size, seed
        self.records_dir, self.log_dir = records_dir, log_dir
        self.features = FeaturePass(gan.critic, gan.rng)
        self.history: List[SplitResult] = []

    def split(self, iteration: int, dequant_noise: Optional[np.ndarray] = None) -> SplitResult:
        generator = self.gan.generator
        labels_before = self.gan.example_labels.numpy()
        classes_before = int(generator.num_classes.numpy())
        tree_before = generator.class_tree.numpy()
        features = splitting.normalize_features(self.features(self.data.images, dequant_noise), self.group_size,
                                                self.cfg.feature_norm)
        plan = splitting.plan_split(features, labels_before, classes_before, tree_before,
                                    self.cfg.min_split_size, self.seed)
        surgery.apply_split(plan, self.gan)
        faults.point("split.applied")
        recovery = None
        if self.data.subclasses is not None:
            recovery = splitting.subclass_recovery(labels_before, plan.labels, plan.children, self.data.subclasses)
        result = SplitResult(iteration, classes_before, plan.num_classes, recovery,
                             os.path.join(self.records_dir, "iteration_%07d" % iteration))
        self._write_record(result, plan, labels_before, tree_before)
        self.history.append(result)
        return result

    def _write_record(self, result: SplitResult, plan: splitting.SplitPlan, labels_before, tree_before) -> None:
        with files.staged_directory(result.record_dir) as d:
            self._write_record_files(d, result, plan, labels_before, tree_before)
        if self.log_dir:
            with tf.summary.create_file_writer(self.log_dir).as_default():
                step = result.iteration + 1
                tf.summary.scalar("split/num_classes", result.classes_after, step=step)
                if result.recovery:
                    tf.summary.scalar("split/subclass_ari", np.mean([r["ari"] for r in result.recovery.values()]),
                                      step=step)
                    tf.summary.scalar("split/subclass_purity",
                                      np.mean([r["purity"] for r in result.recovery.values()]), step=step)

    def _write_record_files(self, d: str, result: SplitResult, plan: splitting.SplitPlan, labels_before,
                            tree_before) -> None:
        generator = self.gan.generator
        parents = splitting.class_parents(plan.tree, plan.num_classes, generator.initial_classes)
        sizes = np.bincount(plan.labels, minlength=plan.num_classes)
        files.write_bytes(os.path.join(d, "labels_before.txt"), _int_lines(labels_before))
        files.write_bytes(os.path.join(d, "labels_after.txt"), _int_lines(plan.labels))
        files.write_bytes(os.path.join(d, "tree_before.txt"), _tree_text(tree_before))
        files.write_bytes(os.path.join(d, "tree_after.txt"), _tree_text(plan.tree))
        files.write_bytes(os.path.join(d, "hierarchy.txt"), splitting.describe_hierarchy(parents, sizes).encode())
        split_classes = np.flatnonzero(plan.children >= 0)
        files.write_json(os.path.join(d, "hierarchy.json"), {
            "iteration": result.iteration,
            "classes_before": result.classes_before, "classes_after": result.classes_after,
            "classes": [{"class": c, "parent": int(parents[c]), "images": int(sizes[c])}
                        for c in range(plan.num_classes)],
            "splits": [{"parent": int(i), "child": int(plan.children[i]), "kmeans_inertia": float(plan.inertia[i]),
                        "parent_images": int(sizes[i]), "child_images": int(sizes[plan.children[i]])}
                       for i in split_classes],
            "subclass_recovery": result.recovery})
        sampling.write_png(os.path.join(d, "real_per_class.png"), self._real_grid(plan.labels, plan.num_classes))

    def _real_grid(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """One row of the first REAL_PER_CLASS images (data-set order) of every class; short rows stay blank."""
        shape = self.data.images.shape[1:]
        rows = []
        for c in range(num_classes):
            members = self.data.images[np.flatnonzero(labels == c)[:REAL_PER_CLASS]]
            rows.append(np.concatenate([members, np.full((REAL_PER_CLASS - len(members),) + shape, 255, np.uint8)]))
        return sampling.grid(np.concatenate(rows), REAL_PER_CLASS)


def _int_lines(values: np.ndarray) -> bytes:
    return ("\n".join(str(int(v)) for v in values) + "\n").encode()


def _tree_text(tree: np.ndarray) -> bytes:
    return ("\n".join(" ".join("1" if v else "0" for v in row) for row in tree) + "\n").encode()

