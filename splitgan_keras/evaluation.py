"""eval.py's work on one source: metrics, sample grid, samples file, export."""
from __future__ import annotations

import io
from typing import List, Optional

import numpy as np

from splitgan_keras import (config as config_lib, datasets, export, files, pictures, sampling,
                            sources)
from splitgan_keras.errors import UserError
from splitgan_keras.metrics import registry


def _real_images(loaded: sources.Loaded, dataset: Optional[str], data_dir: Optional[str]):
    """(training images for FID, their name): the run's data set, or the one named by flags."""
    cfg = loaded.cfg
    if cfg is None and dataset:
        cfg = config_lib.with_overrides(config_lib.Config(), {
            "data.dataset": dataset, "data.data_dir": data_dir, "model.image_size": loaded.source.image_size},
            "eval.py flags")
        config_lib.validate(cfg)
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


def evaluate(source_path: str, checkpoint: Optional[str] = None, metrics: Optional[List[str]] = None,
             inception: Optional[str] = None, grid: Optional[str] = None, per_class: int = 10,
             samples: Optional[int] = None, out: Optional[str] = None, export_to: Optional[str] = None,
             json_path: Optional[str] = None, seed: int = 0, dataset: Optional[str] = None,
             data_dir: Optional[str] = None, tf1_initial_classes: int = 10, cache_dir: Optional[str] = None) -> dict:
    """Does what the arguments ask for on one source (see eval.py --help); returns the metric values."""
    if (samples is None) != (out is None):
        raise UserError("--samples N and --out FILE.npz go together")
    if samples is not None and samples < 1:
        raise UserError("--samples must be at least 1, got %d" % samples)
    if per_class < 1:
        raise UserError("--per-class must be at least 1, got %d" % per_class)
    loaded = sources.load(source_path, checkpoint, tf1_initial_classes)
    print("evaluating %s (%d classes)" % (loaded.description, loaded.source.num_classes()), flush=True)
    results = {}
    if metrics:
        real, name = _real_images(loaded, dataset, data_dir) if any(m.startswith("fid") for m in metrics) else (None, "")
        evaluator = registry.Evaluator(inception, real, name, cache_dir, progress=True, run_cfg=loaded.cfg,
                                       class_state=_class_state(loaded))
        results = evaluator.evaluate(metrics, loaded.source, seed)
        print(evaluator.format(results), flush=True)
        if json_path:
            files.write_json(json_path, {"source": loaded.description, "seed": seed, "metrics": results})
    if grid:
        pictures.write_png(grid, pictures.class_grid(loaded.source, per_class, seed, _class_names(loaded)))
        print("wrote %s (%d classes x %d samples)" % (grid, loaded.source.num_classes(), per_class), flush=True)
    if out:
        images, labels = sampling.uniform_samples(loaded.source, samples, seed)
        buffer = io.BytesIO()
        np.savez(buffer, images=images, labels=labels)
        files.write_bytes(out, buffer.getvalue())
        print("wrote %s (%d samples, uint8 images and int32 labels)" % (out, samples), flush=True)
    if export_to:
        if loaded.generator is None:
            raise UserError("--export-to: %s is an export already" % source_path)
        export.export_generator(loaded.generator, export_to)
        print("exported to %s" % export_to, flush=True)
    return results
