"""eval.py's work on one source: metrics, sample grid, samples file, export."""
from __future__ import annotations

import dataclasses
import io
from typing import Optional

import numpy as np

from splitgan_keras import config as config_lib, config_checks, files, metric_names
from splitgan_keras.artefacts import export, pictures, sampling
from splitgan_keras.data import datasets
from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate import sources
from splitgan_keras.evaluate.metrics import registry


def _training_set(loaded: sources.Loaded, job: config_lib.EvaluateConfig) -> Optional[ImageData]:
    """The training set of the source's run, or the one the job names (job.data), or None."""
    cfg = loaded.cfg
    if cfg is None and job.data is not None:
        cfg = dataclasses.replace(config_lib.Config(), data=job.data, model=dataclasses.replace(
            config_lib.ModelConfig(), image_size=loaded.source.image_size))
        config_checks.validate(cfg)
    return None if cfg is None else datasets.load(cfg)


def _class_names(loaded: sources.Loaded):
    """Row labels of the source's classes: number, parent, and the sub-class where the data set knows it."""
    parents = loaded.source.class_parents()
    if loaded.example_labels is None:
        return pictures.class_labels(parents)
    appearance = datasets.appearance(loaded.cfg) if loaded.cfg is not None else None
    return pictures.ClassNames(appearance)(loaded.example_labels, parents)


def _class_state(loaded: sources.Loaded):
    """(every training image's class, every class's parent) of a checkpoint, or None."""
    if loaded.example_labels is None:
        return None
    parents = loaded.source.class_parents()
    return lambda: (loaded.example_labels, parents)


def evaluate(job: config_lib.EvaluateConfig) -> dict:
    """Does what the job asks for on its source (see eval.py --help); returns the metric values.
    The job must have passed config_checks.validate_evaluation (eval.py checks it before TensorFlow
    starts)."""
    loaded = sources.load(job.source, job.checkpoint, job.tf1_initial_classes)
    print("evaluating %s (%d classes)" % (loaded.description, loaded.source.num_active()), flush=True)
    results = {}
    if job.metrics:
        needs = metric_names.needed(metric_names.parse_all(job.metrics))
        data = _training_set(loaded, job) if needs & {metric_names.TRAINING_IMAGES, metric_names.APPEARANCE} else None
        evaluator = registry.Evaluator(job.eval.inception, data, job.eval.cache_dir, progress=True,
                                       class_state=_class_state(loaded))
        results = evaluator.evaluate(list(job.metrics), loaded.source, job.seed)
        print(evaluator.format(results), flush=True)
        if job.json_path:
            files.write_json(job.json_path, {"source": loaded.description, "seed": job.seed, "metrics": results})
    if job.grid:
        pictures.write_png(job.grid, pictures.class_grid(loaded.source, job.per_class, job.seed, _class_names(loaded)))
        print("wrote %s (%d classes x %d samples)" % (job.grid, loaded.source.num_active(), job.per_class), flush=True)
    if job.out:
        images, labels = sampling.uniform_samples(loaded.source, job.samples, job.seed)
        buffer = io.BytesIO()
        np.savez(buffer, images=images, labels=labels)
        files.write_bytes(job.out, buffer.getvalue())
        print("wrote %s (%d samples, uint8 images and int32 labels)" % (job.out, job.samples), flush=True)
    if job.export_to:
        if loaded.generator is None:
            raise UserError("--export-to: %s is an export already" % job.source)
        export.export_generator(loaded.generator, job.export_to)
        print("exported to %s" % job.export_to, flush=True)
    return results
