"""eval.py's work on one source: metrics, sample grid, samples file, export."""
from __future__ import annotations

import io
from typing import Optional

import numpy as np

from splitgan_keras import config as config_lib, config_checks, files
from splitgan_keras.artefacts import export, pictures, sampling
from splitgan_keras.data import datasets
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate import sources
from splitgan_keras.evaluate.metrics import registry


def _real_images(loaded: sources.Loaded, dataset: Optional[str], data_dir: Optional[str]):
    """(training images for FID, their name): the run's data set, or the one named by flags."""
    cfg = loaded.cfg
    if cfg is None and dataset:
        cfg = config_lib.with_overrides(config_lib.Config(), {
            "data.dataset": dataset, "data.data_dir": data_dir, "model.image_size": loaded.source.image_size},
            "eval.py flags")
        config_checks.validate(cfg)
    if cfg is None:
        return None, ""
    data = datasets.load(cfg)
    return data.images, data.source


def _class_names(loaded: sources.Loaded):
    """Row labels of the source's classes: number, parent, and the built-in sub-class where known."""
    parents = loaded.source.class_parents()
    if loaded.example_labels is None:
        return pictures.class_labels(parents)
    return pictures.ClassNames.for_run(loaded.cfg)(loaded.example_labels, parents)


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
        needs_real = any(registry.parse(m).kind in registry.AGAINST_TRAINING_IMAGES for m in job.metrics)
        real, name = _real_images(loaded, job.dataset, job.data_dir) if needs_real else (None, "")
        evaluator = registry.Evaluator(job.inception, real, name, job.cache_dir, progress=True, run_cfg=loaded.cfg,
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
