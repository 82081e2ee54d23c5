"""Extension points are one entry each: a metric added to metric_names.KINDS is parsed, checked, described in the
help, computed and given its protocol without touching another file (docs/development.md: adding a metric)."""
import dataclasses

import numpy as np
import pytest

from stand_in_sources import ImagesSource
from splitgan_keras import config, config_checks, metric_names
from splitgan_keras.evaluate.metrics import registry


def mean_pixel(evaluator, metric, drawn, tables):
    """The toy metric's computation: the mean pixel value of `metric.samples` samples."""
    return {metric.name: float(drawn.images(metric.samples).mean())}


TOY = metric_names.MetricKind("toy_mean", "", "the mean pixel value of N samples", (), "test_extension_points:mean_pixel",
                              least=2, conventions={"mean": "over every pixel and channel"}, usual=16)


@pytest.fixture
def toy_metric(monkeypatch):
    monkeypatch.setattr(metric_names, "KINDS", metric_names.KINDS + (TOY,))


def test_a_metric_added_to_the_table_is_parsed_checked_and_described(toy_metric):
    assert metric_names.parse("toy_mean7").kind is TOY and metric_names.parse("toy_mean2k").samples == 2000
    with pytest.raises(Exception, match="at least 2 samples"):
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
