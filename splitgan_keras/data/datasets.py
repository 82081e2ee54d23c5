"""The loader for each dataset name: where it is read from, and the checked training set."""
from __future__ import annotations

from typing import Optional

from splitgan_keras import metric_names
from splitgan_keras.data import builtin_data, cifar10, image_data, stl10
from splitgan_keras.errors import UserError


def locate(cfg) -> str:
    """Where the training set the config names is read from, checked without reading it."""
    if cfg.data.dataset == "cifar10":
        return cifar10.locate(cfg.data.data_dir)
    if cfg.data.dataset == "stl10":
        return stl10.locate(cfg.data.data_dir)
    return "the built-in dataset"


_LOADERS = {"builtin": builtin_data, "cifar10": cifar10, "stl10": stl10}
KNOW_THEIR_APPEARANCE = ("builtin",)  # data sets that drew their images, so know what each shows


def check_metrics(cfg) -> None:
    """Raises UserError for a metric of cfg.eval.metrics that needs more than the data set knows."""
    for metric in metric_names.parse_all(cfg.eval.metrics):
        if metric_names.APPEARANCE in metric.kind.needs and cfg.data.dataset not in KNOW_THEIR_APPEARANCE:
            raise UserError("--eval-metrics %s needs %s: --dataset %s" % (
                metric.name, metric_names.APPEARANCE, " or ".join(KNOW_THEIR_APPEARANCE)))


def appearance(cfg) -> Optional[image_data.Appearance]:
    """What every image of the config's training set shows (ImageData.appearance), without loading
    the images, or None where the data set does not know it."""
    if cfg.data.dataset not in KNOW_THEIR_APPEARANCE:
        return None
    return builtin_data.appearance(cfg.data.builtin_size, cfg.data.builtin_seed, cfg.data.builtin_labels)


def initial_classes(cfg) -> int:
    """The classes a run of this config starts from: its dataset's, or one when unsupervised."""
    if cfg.split.unsupervised:
        return 1
    if cfg.data.dataset == "builtin":
        return builtin_data.num_classes(cfg.data.builtin_labels)
    return _LOADERS[cfg.data.dataset].NUM_CLASSES


def load(cfg) -> image_data.ImageData:
    """Loads and checks the training set a config.Config names.

    The images must match cfg.model.image_size and fill at least one critic batch. With
    cfg.split.unsupervised every image starts in one class.
    """
    data_cfg, image_size = cfg.data, cfg.model.image_size
    if data_cfg.dataset == "builtin":
        data = builtin_data.make(data_cfg.builtin_size, image_size, data_cfg.builtin_seed)
        if data_cfg.builtin_labels == builtin_data.COLOUR_AND_KIND:
            data = builtin_data.labelled_by_colour_and_kind(data)
    elif data_cfg.dataset == "cifar10":
        data = cifar10.load(data_cfg.data_dir)
    elif data_cfg.dataset == "stl10":
        data = stl10.load(data_cfg.data_dir, image_size)
    else:
        raise UserError("unknown dataset %r" % data_cfg.dataset)
    image_data.check(data, image_size, cfg.train.batch_size)
    return image_data.unsupervised(data) if cfg.split.unsupervised and data.num_classes > 1 else data


def load_test(cfg) -> image_data.ImageData:
    """The test split of the data set a config.Config names, for metrics against it (fid<N>_test),
    its images at cfg.model.image_size."""
    data_cfg, image_size = cfg.data, cfg.model.image_size
    if data_cfg.dataset == "builtin":
        data = builtin_data.make(data_cfg.builtin_size, image_size, data_cfg.builtin_seed, test=True)
    elif data_cfg.dataset == "cifar10":
        data = cifar10.load(data_cfg.data_dir, test=True)
    else:
        raise UserError("%s has no test split here (the STL-10 unlabelled set is all there is); use a metric against "
                        "the training set, e.g. fid50k_train" % data_cfg.dataset)
    image_data.check(data, image_size, 2)
    return data
