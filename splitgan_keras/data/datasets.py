"""Reading the data set a config names, through its loader (dataset_names.DATASETS): where it is read from,
the checked training set and test split, its initial classes and what it knows of its images."""
from __future__ import annotations

import importlib
from typing import Optional

from splitgan_keras import dataset_names, metric_names
from splitgan_keras.data import image_data
from splitgan_keras.errors import UserError


def _loader(cfg):
    """The loader module of cfg.data.dataset (UserError for an unknown name)."""
    return importlib.import_module(dataset_names.spec(cfg.data.dataset).loader)


def locate(cfg) -> str:
    """Where the training set the config names is read from, checked without reading it."""
    return _loader(cfg).where(cfg)


def check_metrics(cfg) -> None:
    """Raises UserError for a metric of cfg.eval.metrics that needs more than the data set knows."""
    spec = dataset_names.spec(cfg.data.dataset)
    for metric in metric_names.parse_all(cfg.eval.metrics):
        if metric_names.APPEARANCE in metric.kind.needs and not spec.knows_appearance:
            raise UserError("--metrics %s needs %s: --dataset %s" % (
                metric.name, metric_names.APPEARANCE,
                " or ".join(s.name for s in dataset_names.DATASETS if s.knows_appearance)))
        if metric_names.TEST_IMAGES in metric.kind.needs and not spec.test_split:
            raise UserError("--metrics %s needs %s: %s has none" % (metric.name, metric_names.TEST_IMAGES,
                                                                         spec.name))


def appearance(cfg) -> Optional[image_data.Appearance]:
    """What every image of the config's training set shows (ImageData.appearance), without loading
    the images, or None where the data set does not know it."""
    if not dataset_names.spec(cfg.data.dataset).knows_appearance:
        return None
    return _loader(cfg).appearance_of(cfg)


def initial_classes(cfg) -> int:
    """The classes a run of this config starts from: its dataset's, or one when unsupervised."""
    return 1 if cfg.split.unsupervised else _loader(cfg).classes(cfg)


def load(cfg) -> image_data.ImageData:
    """Loads and checks the training set a config.Config names.

    The images must match cfg.model.image_size and fill at least one critic batch. With
    cfg.split.unsupervised every image starts in one class.
    """
    data = _loader(cfg).training_set(cfg)
    image_data.check(data, cfg.model.image_size, cfg.train.batch_size)
    return image_data.unsupervised(data) if cfg.split.unsupervised and data.num_classes > 1 else data


def load_test(cfg) -> image_data.ImageData:
    """The test split of the data set a config.Config names, for metrics against it (fid<N>_test),
    its images at cfg.model.image_size."""
    if not dataset_names.spec(cfg.data.dataset).test_split:
        raise UserError("%s has no test split here; use a metric against the training set, e.g. fid50k_train"
                        % cfg.data.dataset)
    data = _loader(cfg).test_set(cfg)
    image_data.check(data, cfg.model.image_size, 2)
    return data
