"""eval.py's work on one source: metrics, sample grid, samples file, export.

The JSON file of --json (JSON_FORMAT; docs/evaluation.md), rewritten as each metric completes: {"format",
"complete" (false while metrics are pending), "pending": [metric names], "source", "generator", "seed",
"metrics": {name: value}, "protocols": {metric: protocol.describe(...)}, "classes": {per-class metric:
[per_class.ClassFigure as an object]}}; NaN is written as null.
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import sys
from typing import Optional

import numpy as np

from splitgan_keras import config as config_lib, config_checks, files, metric_names
from splitgan_keras.artefacts import export, pictures, sampling
from splitgan_keras.data import datasets
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.eval_job import EvalJob
from splitgan_keras.evaluate import real_scores, sources
from splitgan_keras.evaluate.metrics import per_class, registry


JSON_FORMAT = "splitgan-keras evaluation 3"


def _run_config(loaded: sources.Loaded, job: EvalJob) -> Optional[config_lib.Config]:
    """The configuration whose data set the metrics need: the source's run's, or one made of the
    job's data section (job.data) at the source's image size, checked; None if neither is there."""
    if loaded.cfg is not None or job.data is None:
        return loaded.cfg
    cfg = dataclasses.replace(config_lib.Config(), data=job.data, model=dataclasses.replace(
        config_lib.ModelConfig(), image_size=loaded.source.image_size))
    config_checks.validate(cfg)
    return cfg


def _training_set(loaded: sources.Loaded, job: EvalJob) -> Optional[ImageData]:
    """The training set of the source's run, or the one the job names (job.data), or None."""
    cfg = _run_config(loaded, job)
    return None if cfg is None else datasets.load(cfg)


def _class_names(loaded: sources.Loaded):
    """Row labels of the source's classes: number, parent, and the sub-class where the data set knows it."""
    parents = loaded.source.class_parents()
    if loaded.example_labels is None:
        return pictures.class_labels(parents)
    appearance = datasets.appearance(loaded.cfg) if loaded.cfg is not None else None
    return pictures.ClassNames(appearance)(loaded.example_labels, parents)


def _example_classes(loaded: sources.Loaded):
    """(every training image's class, every class's parent) of a checkpoint, or None."""
    if loaded.example_labels is None:
        return None
    parents = loaded.source.class_parents()
    return lambda: (loaded.example_labels, parents)


def _test_split(loaded: sources.Loaded, job: EvalJob) -> ImageData:
    """The test split of the data set of the source's run, or of the one the job names."""
    cfg = _run_config(loaded, job)
    if cfg is None:
        raise UserError("the test split needs the data set: give --dataset/--data-dir, or evaluate a run dir")
    return datasets.load_test(cfg)


def _plain(value):
    """`value` for JSON: NaN (a class without two training images) as null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _measure(job: EvalJob, loaded: sources.Loaded) -> dict:
    """The job's metrics: each printed, and the JSON file rewritten, as it completes (a signal keeps the figures
    done); then the per-class tables and charts. Returns the values."""
    metrics = metric_names.parse_all(job.metrics)
    needs = metric_names.needed(metrics)
    data = _training_set(loaded, job) if needs & {metric_names.TRAINING_IMAGES, metric_names.APPEARANCE} else None
    test = _test_split(loaded, job) if metric_names.TEST_IMAGES in needs else None
    evaluator = registry.Evaluator(job.eval.inception, data, job.eval.cache_dir, progress=True,
                                   example_classes=_example_classes(loaded), test_data=test)
    evaluator.check(list(job.metrics))  # loads the module, so that the line below can say which
    if metric_names.INCEPTION in needs:
        print(evaluator.network().summary(), flush=True)
    names = [m.name for m in metrics]
    done: list = []

    def completed(report: registry.Report, metric: metric_names.Metric) -> None:
        done.append(metric.name)
        print(evaluator.format(registry.values_of(report.values, metric.name)), flush=True)
        if job.json_path:
            _write_json(job, loaded, report, [name for name in names if name not in done])

    try:
        if job.real:
            report = real_scores.report(evaluator, job.metrics, loaded, job.seed, completed)
        else:
            report = evaluator.report(list(job.metrics), loaded.source, job.seed, loaded.record, completed)
    except KeyboardInterrupt:
        if job.json_path and done:
            print("stopped by a signal after %d of %d metrics: %s holds %s (\"complete\": false)"
                  % (len(done), len(names), job.json_path, ", ".join(done)), file=sys.stderr, flush=True)
        raise
    if len(names) > 1:
        print(evaluator.format(report.values), flush=True)
    for name, figures in report.tables.items():
        print(per_class.table(name, figures, per_class.caveat(metric_names.parse(name), figures)), flush=True)
        if job.class_chart:
            path = job.class_chart if len(report.tables) == 1 else "%s_%s.png" % (os.path.splitext(job.class_chart)[0],
                                                                                  name)
            files.write_bytes(path, per_class.chart(name, figures, "%s of %s" % (name, loaded.description)))
            print("wrote %s" % path, flush=True)
    return report.values


def _write_json(job: EvalJob, loaded: sources.Loaded, report: registry.Report, pending: list) -> None:
    """The --json file (JSON_FORMAT) of the figures done so far; "complete" once none is pending."""
    files.write_json(job.json_path, {
        "format": JSON_FORMAT, "complete": not pending, "pending": pending, "source": loaded.description,
        "generator": loaded.record, "seed": job.seed,
        "metrics": {key: _plain(value) for key, value in report.values.items()}, "protocols": report.protocols,
        "classes": {name: [{key: _plain(value) for key, value in dataclasses.asdict(f).items()} for f in figures]
                    for name, figures in report.tables.items()},
        "notes": {name: note for name, note in ((name, per_class.caveat(metric_names.parse(name), figures))
                                                for name, figures in report.tables.items()) if note}})


def _check_classes(job: EvalJob, loaded: sources.Loaded) -> None:
    active = loaded.source.num_active()
    beyond = [c for c in job.classes if c >= active]
    if beyond:
        raise UserError("--classes %s: %s has classes 0..%d" % (",".join(map(str, beyond)), loaded.description,
                                                                 active - 1))


def _write_samples(job: EvalJob, loaded: sources.Loaded) -> None:
    """--samples N --out FILE.npz|DIR, of every class (uniform labels) or of --classes."""
    if job.classes:
        images, labels = sampling.class_samples(loaded.source, job.classes, job.samples, job.seed)
    else:
        images, labels = sampling.uniform_samples(loaded.source, job.samples, job.seed)
    if job.out.endswith(".npz"):
        buffer = io.BytesIO()
        np.savez(buffer, images=images, labels=labels)
        files.write_bytes(job.out, buffer.getvalue())
    else:
        pictures.write_sample_folder(job.out, images, labels)
    print("wrote %s (%d samples%s, uint8 images and int32 labels)" % (
        job.out, len(images), " of classes " + ",".join(map(str, job.classes)) if job.classes else ""), flush=True)


def evaluate(job: EvalJob) -> dict:
    """Does what the job asks for on its source (see eval.py --help); returns the metric values.
    The job must have passed config_checks.validate_evaluation (eval.py checks it before TensorFlow
    starts)."""
    loaded = real_scores.load(job) if job.real else sources.load(job.path, job.checkpoint, job.tf1_initial_classes)
    print("evaluating %s (%d classes)" % (loaded.description, loaded.source.num_active()), flush=True)
    _check_classes(job, loaded)  # before anything is written
    results = _measure(job, loaded) if job.metrics else {}
    if job.grid:
        pictures.write_png(job.grid, pictures.class_grid(loaded.source, job.per_class, job.seed, _class_names(loaded)))
        print("wrote %s (%d classes x %d samples)" % (job.grid, loaded.source.num_active(), job.per_class), flush=True)
    if job.out:
        _write_samples(job, loaded)
    if job.export_to:
        if loaded.generator is None:
            raise UserError("--export-to: %s is an export already" % job.path)
        export.export_generator(loaded.generator, job.export_to)
        print("exported to %s" % job.export_to, flush=True)
    return results
