"""Extension points are one entry each: a metric added to metric_names.KINDS is parsed, checked, described in the
help, computed and given its protocol, and a data set added to dataset_names.DATASETS with its loader is checked,
loaded and served to the metrics, without touching another file (docs/development.md)."""
import dataclasses

import numpy as np
import pytest

from stand_in_sources import ImagesSource
from splitgan_keras import config, config_checks, dataset_names, metric_names
from splitgan_keras.data import datasets, image_data
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import registry


def mean_pixel(evaluator, metric, drawn, tables):
    """The toy metric's computation: the mean pixel value of `metric.samples` samples."""
    images, = drawn.read(metric)
    return {metric.name: float(images.mean())}


TOY = metric_names.MetricKind("toy_mean", "", "the mean pixel value of N samples", (), "test_extension_points:mean_pixel",
                              least=2, draws="images", conventions={"mean": "over every pixel and channel"}, usual=16)


@pytest.fixture
def toy_metric(monkeypatch):
    monkeypatch.setattr(metric_names, "KINDS", metric_names.KINDS + (TOY,))


def test_a_metric_added_to_the_table_is_parsed_checked_and_described(toy_metric):
    assert metric_names.parse("toy_mean7").kind is TOY and metric_names.parse("toy_mean2k").samples == 2000
    with pytest.raises(UserError, match="at least 2 samples"):
        metric_names.parse("toy_mean1")
    assert "toy_mean<N>: the mean pixel value of N samples (e.g. toy_mean16)" in metric_names.help_text()
    cfg = dataclasses.replace(config.Config(), eval=dataclasses.replace(config.EvalConfig(), metrics=("toy_mean16",)))
    config_checks.validate(cfg)


def test_a_metric_added_to_the_table_is_computed_with_its_protocol(toy_metric, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    report = registry.Evaluator(cache_dir=str(tmp_path)).report(["toy_mean16", "toy_mean8"], ImagesSource(images))
    assert report.values["toy_mean16"] == pytest.approx(images.mean())
    assert report.values["toy_mean8"] != report.values["toy_mean16"]  # its own count of samples
    assert report.protocols["toy_mean16"]["mean"] == "over every pixel and channel"
    assert report.protocols["toy_mean16"]["samples"] == 16 and report.protocols["toy_mean16"]["reference"] is None


# The toy data set's loader: this module (dataset_names.py lists what a loader offers).
def where(cfg):
    return "toy squares in %s" % cfg.data.data_dir


def training_set(cfg):
    images = np.zeros((40, 16, 16, 3), np.uint8)
    labels = np.arange(40, dtype=np.int32) % 4
    images[:, 4:12, 4:12, :] = (labels * 60)[:, None, None, None]
    return image_data.ImageData(images, labels, 4, "toy squares (40 images)")


def classes(cfg):
    return 4


TOY_DATA = dataset_names.DatasetSpec("toy", "grey squares", "test_extension_points", data_dir="any folder",
                                     image_size=16, test_split=False)


@pytest.fixture
def toy_dataset(monkeypatch):
    monkeypatch.setattr(dataset_names, "DATASETS", dataset_names.DATASETS + (TOY_DATA,))


def _config(**sections):
    cfg = config.Config()
    return dataclasses.replace(cfg, **{name: dataclasses.replace(getattr(cfg, name), **fields)
                                       for name, fields in sections.items()})


def test_a_data_set_added_to_the_table_is_checked_and_loaded(toy_dataset, tmp_path):
    assert "toy: grey squares" in dataset_names.help_text() and "toy: any folder" in dataset_names.data_dir_help()
    cfg = _config(data={"dataset": "toy", "data_dir": str(tmp_path)}, model={"image_size": 16},
                  train={"batch_size": 8})
    config_checks.validate(cfg)
    assert datasets.locate(cfg) == "toy squares in %s" % tmp_path
    data = datasets.load(cfg)
    assert data.images.shape == (40, 16, 16, 3) and datasets.initial_classes(cfg) == 4 and datasets.appearance(cfg) is None
    for wrong, flag, expected in ((dict(model={"image_size": 32}), "--image-size", "must be 16 for --dataset toy"),
                                  (dict(data={"dataset": "toy"}), "--data-dir", "is required for --dataset toy: any folder")):
        with pytest.raises(UserError, match=expected) as info:
            config_checks.validate(_config(**{**dict(data={"dataset": "toy", "data_dir": "x"}, model={"image_size": 16},
                                                     train={"batch_size": 8}), **wrong}))
        assert flag in str(info.value)
    with pytest.raises(UserError, match="toy has no test split"):
        datasets.load_test(cfg)
    with pytest.raises(UserError, match="builtin_quality100 needs a training set that knows what its images show"):
        datasets.check_metrics(_config(data={"dataset": "toy"}, eval={"metrics": ("builtin_quality",)}))
