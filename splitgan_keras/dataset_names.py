"""The data sets' one table: every data set is one DatasetSpec in DATASETS and one loader module. The config's
choices and help, the fixed image sizes, the checks of --data-dir and --image-size (before TensorFlow starts),
what metrics it can serve and the loading itself (data/datasets.py) all read this table; docs/development.md says
how to add a data set. Pure Python.

A loader module offers, each taking the run's config.Config:
  where(cfg) -> str             where the training set is read from, checked without reading it (UserError)
  training_set(cfg) -> ImageData  the training set at cfg.model.image_size
  test_set(cfg) -> ImageData    its test split (only with DatasetSpec.test_split)
  classes(cfg) -> int           the classes its labels give (1: unlabelled)
  appearance_of(cfg) -> Appearance  what every image shows, without loading them (only with knows_appearance)
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from splitgan_keras.errors import UserError


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One data set.

    Attributes:
      name: its --dataset value.
      help: what it is, for --help.
      loader: the module that reads it (see above), imported when first used.
      data_dir: what --data-dir must name for it, for --help and messages; "" for a data set that reads no files.
      image_size: the only image size it comes at, or None: any multiple of 8 (--image-size).
      test_split: whether it has a test split (metrics *_test).
      knows_appearance: it drew its images, so knows what each shows (metrics that need it: builtin_*).
    """
    name: str
    help: str
    loader: str
    data_dir: str = ""
    image_size: Optional[int] = None
    test_split: bool = True
    knows_appearance: bool = False


BUILTIN = DatasetSpec("builtin", "the built-in procedural dataset (10 colours, blobs and stripes)",
                      "splitgan_keras.data.builtin_data", knows_appearance=True)
CIFAR10 = DatasetSpec("cifar10", "CIFAR-10", "splitgan_keras.data.cifar10",
                      "a folder with data_batch_1..5, or the cifar-10-python.tar.gz file", image_size=32)
STL10 = DatasetSpec("stl10", "STL-10's unlabelled images resized to 48x48 (one class to start with)",
                    "splitgan_keras.data.stl10", "the folder with stl10_binary/unlabeled_X.bin", image_size=48,
                    test_split=False)
DATASETS = (BUILTIN, CIFAR10, STL10)


def names() -> Tuple[str, ...]:
    return tuple(spec.name for spec in DATASETS)


def spec(name: str) -> DatasetSpec:
    """The data set called `name`; UserError for an unknown one."""
    for candidate in DATASETS:
        if candidate.name == name:
            return candidate
    raise UserError("unknown dataset %r: use %s" % (name, ", ".join(names())))


def reading_files() -> Tuple[DatasetSpec, ...]:
    """The data sets that --data-dir is for."""
    return tuple(s for s in DATASETS if s.data_dir)


def help_text() -> str:
    """--dataset's help: each data set and what it is."""
    return "training data: " + "; ".join("%s: %s" % (s.name, s.help) for s in DATASETS)


def data_dir_help() -> str:
    """--data-dir's help: what it names for each data set that reads files."""
    return "; ".join("%s: %s" % (s.name, s.data_dir) for s in reading_files())
