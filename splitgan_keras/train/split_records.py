"""The chief's record of a split: files under <run>/splits/iteration_N/ and TensorBoard summaries.

labels_before.txt / labels_after.txt (one class per example), tree_before.txt / tree_after.txt,
hierarchy.txt and hierarchy.json (classes, parents, sizes, the splits with the rule's measures,
the hidden sub-class recovery per split class, the whole partition's scores against the hidden
truths), real_per_class.png and hierarchy.png (real | generated per class).
"""
from __future__ import annotations

import os
from typing import List

import numpy as np

from splitgan_keras import files
from splitgan_keras.artefacts import pictures, sampling
from splitgan_keras.models import hierarchy
from splitgan_keras.split import recovery as recovery_lib
from splitgan_keras.split.rule import SplitPlan
from splitgan_keras.split.step import SplitResult, SplitState
from splitgan_keras.train.run_log import RunLog

REAL_PER_CLASS = 10
HIERARCHY_PER_CLASS = 5  # real and generated images per class in the hierarchy picture


class SplitRecords:
    """Writes split records for a run.

    Args:
      images: uint8 [N, H, W, 3], the training set (real rows of the pictures).
      sample_source: the generator samples come from (sampling.GeneratorSource).
      records_dir: <run>/splits; run_log: the run's log (run_log.RunLog).
      class_names: row labels (pictures.ClassNames); seed: of the generated rows.
    """

    def __init__(self, images: np.ndarray, sample_source, records_dir: str, run_log: RunLog,
                 class_names: pictures.ClassNames, seed: int):
        self.images, self.sample_source = images, sample_source
        self.records_dir, self.run_log = records_dir, run_log
        self.class_names, self.seed = class_names, seed

    def record_dir(self, iteration: int) -> str:
        return os.path.join(self.records_dir, "iteration_%07d" % iteration)

    def write(self, result: SplitResult, plan: SplitPlan, before: SplitState, after: SplitState) -> None:
        names = self.class_names(after.labels, after.parents)
        real = pictures.labelled_rows(self._real_rows(after.labels, len(after.parents), REAL_PER_CLASS), names,
                                      "real images per class after the split after iteration %d" % result.iteration)
        picture = self._hierarchy_picture(after, names, result.iteration)
        with files.staged_directory(result.record_dir) as d:
            self._write_files(d, result, plan, before, after)
            pictures.write_png(os.path.join(d, "real_per_class.png"), real)
            pictures.write_png(os.path.join(d, "hierarchy.png"), picture)
        self._write_summaries(result, real, picture)

    def _write_summaries(self, result: SplitResult, real: np.ndarray, picture: np.ndarray) -> None:
        step = result.iteration + 1
        self.run_log.image("split/real_per_class", real, step)
        self.run_log.image("split/hierarchy", picture, step)
        scalars = {"split/num_classes": result.classes_after}
        if result.recovery:
            scalars.update({"split/subclass_ari": recovery_lib.mean(result.recovery, "ari"),
                            "split/subclass_purity": recovery_lib.mean(result.recovery, "purity")})
        for truth, scores in result.partition.items():  # e.g. split/hidden_groups_ari
            scalars.update({"split/%s_%s" % (truth.replace(" ", "_"), name): scores[name]
                            for name in ("ari", "nmi", "purity")})
        self.run_log.scalars(scalars, step)

    @staticmethod
    def _write_files(d: str, result: SplitResult, plan: SplitPlan, before: SplitState, after: SplitState) -> None:
        sizes = np.bincount(after.labels, minlength=len(after.parents))
        files.write_bytes(os.path.join(d, "labels_before.txt"), _int_lines(before.labels))
        files.write_bytes(os.path.join(d, "labels_after.txt"), _int_lines(after.labels))
        files.write_bytes(os.path.join(d, "tree_before.txt"), _tree_text(before.tree))
        files.write_bytes(os.path.join(d, "tree_after.txt"), _tree_text(after.tree))
        files.write_bytes(os.path.join(d, "hierarchy.txt"), hierarchy.describe(after.parents, sizes).encode())
        files.write_json(os.path.join(d, "hierarchy.json"), {
            "iteration": result.iteration,
            "classes_before": result.classes_before, "classes_after": result.classes_after,
            "classes": [{"class": c, "parent": int(after.parents[c]), "images": int(sizes[c])}
                        for c in range(len(after.parents))],
            "splits": [dict({"parent": int(parent), "child": result.classes_before + k},
                            **plan.measures.get(int(parent), {}), parent_images=int(sizes[parent]),
                            child_images=int(sizes[result.classes_before + k]))
                       for k, parent in enumerate(plan.parent_of_child)],
            "subclass_recovery": result.recovery, "partition_scores": result.partition})

    def _real_rows(self, labels: np.ndarray, num_classes: int, count: int) -> List[np.ndarray]:
        """The first `count` images (data-set order) of every class, uint8 [<= count, H, W, 3] each."""
        return [self.images[np.flatnonzero(labels == c)[:count]] for c in range(num_classes)]

    def _hierarchy_picture(self, after: SplitState, names: List[str], iteration: int) -> np.ndarray:
        """The class tree, one row per class in tree order, children indented under their parent:
        HIERARCHY_PER_CLASS real images, a gap, HIERARCHY_PER_CLASS generated samples."""
        parents = after.parents
        real = self._real_rows(after.labels, len(parents), HIERARCHY_PER_CLASS)
        generated = np.split(sampling.per_class_samples(self.sample_source, HIERARCHY_PER_CLASS, self.seed),
                             len(parents))
        blank = np.full((HIERARCHY_PER_CLASS + 1,) + self.images.shape[1:], 255, np.uint8)
        sizes = np.bincount(after.labels, minlength=len(parents))
        rows, row_names = [], []
        for c, depth in hierarchy.tree_order(parents):
            rows.append(np.concatenate([real[c], blank[:HIERARCHY_PER_CLASS + 1 - len(real[c])], generated[c]]))
            row_names.append("  " * depth + "%s (%d images)" % (names[c], sizes[c]))
        return pictures.labelled_rows(rows, row_names, "classes after the split after iteration %d: real | generated"
                                      % iteration)


def _int_lines(values: np.ndarray) -> bytes:
    return ("\n".join(str(int(v)) for v in values) + "\n").encode()


def _tree_text(tree: np.ndarray) -> bytes:
    return ("\n".join(" ".join("1" if v else "0" for v in row) for row in tree) + "\n").encode()
