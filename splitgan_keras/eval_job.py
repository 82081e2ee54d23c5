"""eval.py's job (evaluate/evaluation.py): what it does with one generator (or real images), in the config
table's form (config.option), so that its parser and docs/options.md come from this table. Not part
of a run's Config: its training set and Inception module are named by the run's own sections."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from splitgan_keras import metric_names
from splitgan_keras.config import MAX_SEED, DataConfig, EvalConfig, option

# The run's settings that eval.py takes too, with their flags (evaluate/evaluation.py).
RUN_KEYS = ("data.dataset", "data.data_dir", "eval.inception", "eval.cache_dir")


@dataclasses.dataclass(frozen=True)
class EvalJob:
    """What eval.py does with the generator at `path` (evaluate/evaluation.py); not part of a run's Config. Its
    training set and Inception module are named by the run's own sections (RUN_KEYS)."""
    path: Optional[str] = option(None, "a run dir, a checkpoint (runs/x/checkpoints/ckpt-N), an exported generator "
                                       "(runs/x/export) or a checkpoint of the original TF1 code")
    checkpoint: Optional[str] = option(None, "with a run dir: this checkpoint instead of the latest", "--checkpoint",
                                       metavar="CKPT")
    metrics: Tuple[str, ...] = option(
        (), "comma-separated protocol names: " + metric_names.help_text(), "--metrics")
    grid: Optional[str] = option(None, "write a grid with one row of samples per class", "--grid", metavar="FILE.png")
    per_class: int = option(10, "samples per class in --grid", "--per-class", limits=(1, 1000))
    samples: Optional[int] = option(None, "with --out: N samples with uniform labels, or N of each of --classes",
                                    "--samples", limits=(1, 10 ** 7))
    classes: Tuple[int, ...] = option((), "with --samples: samples of these classes only, e.g. 3,13", "--classes")
    out: Optional[str] = option(None, "where --samples go: FILE.npz (uint8 images, int32 labels), or a folder of PNG "
                                      "files class<c>_<i>.png", "--out", metavar="FILE.npz|DIR")
    class_chart: Optional[str] = option(
        None, "with a per-class metric (ifid<N>_train, builtin_ifid<N>_train): draw its figures, a bar per class in "
              "tree order", "--class-chart", metavar="FILE.png")
    export_to: Optional[str] = option(None, "export the generator as a SavedModel", "--export-to", metavar="DIR")
    json_path: Optional[str] = option(None, "also write the metric values to FILE as JSON", "--json", metavar="FILE")
    seed: int = option(0, "seed of the noise and labels", "--seed", limits=(0, MAX_SEED))
    tf1_initial_classes: int = option(10, "classes a TF1 run started from (10 supervised, 1 unsupervised)",
                                      "--tf1-initial-classes", limits=(1, 512))
    real: Optional[str] = option(
        None, "instead of a generator, score real images with --metrics: the training set (train) or its test split "
              "(test), the ceiling a generator is compared with; the data set of PATH (a run dir) or of --dataset. "
              "Cached, so computed once per data set", "--real", ("train", "test"))
    data: Optional[DataConfig] = option(None, "the training set where PATH has no run config (an export, a TF1 "
                                              "checkpoint); None: the run's")
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)  # its inception and cache_dir

    def has_work(self) -> bool:
        return bool(self.metrics or self.grid or self.out or self.samples is not None or self.export_to)

    def needs_path(self) -> bool:
        """Whether the job scores a generator (at PATH), rather than real images of a data set."""
        return self.real is None or self.data is None
