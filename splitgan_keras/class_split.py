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

from splitgan_keras import faults, files, pictures, sampling, splitting, surgery
from splitgan_keras.datasets import ImageData
from splitgan_keras.gan import scale_real

# Images per critic call in the feature pass. The critic has no batch statistics, so this only
# trades memory for speed; the normalisation groups (the critic batch size) are separate.
FEATURE_BATCH = 500
REAL_PER_CLASS = 10
HIERARCHY_PER_CLASS = 5  # real and generated images per class in the hierarchy picture


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
                 log_dir: Optional[str] = None, class_names: Optional[pictures.ClassNames] = None):
        self.gan, self.data, self.cfg = gan, data, split_cfg
        self.group_size, self.seed = group_size, seed
        self.records_dir, self.log_dir = records_dir, log_dir
        self.class_names = class_names or pictures.ClassNames()
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
        parents = splitting.class_parents(plan.tree, plan.num_classes, self.gan.generator.initial_classes)
        names = self.class_names(plan.labels, parents)
        real = pictures.labelled_rows(self._real_rows(plan.labels, plan.num_classes, REAL_PER_CLASS), names,
                                      "real images per class after the split after iteration %d" % result.iteration)
        hierarchy = self._hierarchy_picture(plan.labels, parents, names, result.iteration)
        with files.staged_directory(result.record_dir) as d:
            self._write_record_files(d, result, plan, parents, labels_before, tree_before)
            pictures.write_png(os.path.join(d, "real_per_class.png"), real)
            pictures.write_png(os.path.join(d, "hierarchy.png"), hierarchy)
        if self.log_dir:
            with tf.summary.create_file_writer(self.log_dir).as_default():
                step = result.iteration + 1
                tf.summary.image("split/real_per_class", real[None], step=step)
                tf.summary.image("split/hierarchy", hierarchy[None], step=step)
                tf.summary.scalar("split/num_classes", result.classes_after, step=step)
                if result.recovery:
                    tf.summary.scalar("split/subclass_ari", np.mean([r["ari"] for r in result.recovery.values()]),
                                      step=step)
                    tf.summary.scalar("split/subclass_purity",
                                      np.mean([r["purity"] for r in result.recovery.values()]), step=step)

    def _write_record_files(self, d: str, result: SplitResult, plan: splitting.SplitPlan, parents: np.ndarray,
                            labels_before, tree_before) -> None:
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

    def _real_rows(self, labels: np.ndarray, num_classes: int, count: int) -> List[np.ndarray]:
        """The first `count` images (data-set order) of every class, uint8 [<= count, H, W, 3] each."""
        return [self.data.images[np.flatnonzero(labels == c)[:count]] for c in range(num_classes)]

    def _hierarchy_picture(self, labels: np.ndarray, parents: np.ndarray, names: List[str], iteration: int):
        """The class tree, one row per class in tree order, children indented under their parent:
        HIERARCHY_PER_CLASS real images, a gap, HIERARCHY_PER_CLASS generated samples."""
        real = self._real_rows(labels, len(parents), HIERARCHY_PER_CLASS)
        generated = np.split(sampling.per_class_samples(sampling.GeneratorSource(self.gan.sampling_generator),
                                                        HIERARCHY_PER_CLASS, self.seed), len(parents))
        blank = np.full((HIERARCHY_PER_CLASS + 1,) + self.data.images.shape[1:], 255, np.uint8)
        sizes = np.bincount(labels, minlength=len(parents))
        rows, row_names = [], []
        for c, depth in splitting.tree_order(parents):
            rows.append(np.concatenate([real[c], blank[:HIERARCHY_PER_CLASS + 1 - len(real[c])], generated[c]]))
            row_names.append("  " * depth + "%s (%d images)" % (names[c], sizes[c]))
        return pictures.labelled_rows(rows, row_names, "classes after the split after iteration %d: real | generated"
                                      % iteration)


def _int_lines(values: np.ndarray) -> bytes:
    return ("\n".join(str(int(v)) for v in values) + "\n").encode()


def _tree_text(tree: np.ndarray) -> bytes:
    return ("\n".join(" ".join("1" if v else "0" for v in row) for row in tree) + "\n").encode()

