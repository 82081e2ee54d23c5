"""eval.py --real: the metrics of real images, scored by the same pipeline as a generator's samples
(the training set against itself, the test split against the training set): the ceiling a
generator is compared with. Each figure is cached in the cache folder under its protocol and the
images' bytes, so it is computed once per data set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Callable, Dict, Optional

from splitgan_keras import config as config_lib, config_checks, dataset_names, files, json_input
from splitgan_keras.artefacts import rundir
from splitgan_keras.data import datasets
from splitgan_keras.errors import UserError
from splitgan_keras.eval_job import EvalJob
from splitgan_keras.evaluate import sources
from splitgan_keras.evaluate.metrics import registry
from splitgan_keras.metric_names import Metric


def load(job: EvalJob) -> sources.Loaded:
    """The real images of job.real ("train" or "test") as a source, with the run's training labels."""
    if job.path:
        if not rundir.holds_run(job.path):
            raise UserError("--real %s takes its data set from a run dir or from --dataset; %s is not a run dir"
                            % (job.real, job.path))
        cfg = rundir.read_config(job.path)
    else:
        size = dataset_names.spec(job.data.dataset).image_size or config_lib.ModelConfig().image_size
        cfg = dataclasses.replace(config_lib.Config(), data=job.data,
                                  model=dataclasses.replace(config_lib.ModelConfig(), image_size=size))
        config_checks.validate(cfg)
    images = datasets.load_test(cfg) if job.real == "test" else None  # a data set without one fails first
    training = datasets.load(cfg)
    images = training if images is None else images
    return sources.Loaded(sources.RealSource(images), "real images: %s" % images.description,
                          {"real": job.real, "data": images.description}, cfg=cfg, example_labels=training.labels)


def report(evaluator: registry.Evaluator, names, loaded: sources.Loaded, seed: int,
           done: Optional[Callable[[registry.Report, Metric], None]] = None) -> registry.Report:
    """evaluator.report of the real source, each metric read from the cache where it was computed before;
    done(report so far, metric) as each metric is there (registry.Evaluator.report)."""
    images = hashlib.sha256(loaded.source.images_digest().encode() + evaluator.data.images.tobytes()).hexdigest()
    cached, missing, paths = registry.Report({}, {}, {}), [], {}
    for metric in evaluator.check(list(names)):
        described = evaluator.protocol(metric, seed, loaded.record)
        key = hashlib.sha256((images + described["id"] + json.dumps(loaded.record, sort_keys=True)).encode())
        paths[metric.name] = os.path.join(evaluator.cache_dir, "real_%s_%s.json" % (metric.name, key.hexdigest()[:16]))
        entry = _read(paths[metric.name])
        if entry is None or metric.kind.class_table:  # tables are not cached: computed anew
            missing.append(metric.name)
        else:
            cached.values.update(entry["values"])
            cached.protocols[metric.name] = entry["protocol"]
            print("%s of the real images: from the cache (%s)" % (metric.name, paths[metric.name]), flush=True)
            if done:
                done(cached, metric)

    def computed(fresh: registry.Report, metric: Metric) -> None:
        values = registry.values_of(fresh.values, metric.name)
        files.write_json(paths[metric.name], {"values": values, "protocol": fresh.protocols[metric.name]})
        cached.values.update(values)
        cached.protocols[metric.name] = fresh.protocols[metric.name]
        cached.tables.update(fresh.tables)
        if done:
            done(cached, metric)

    if missing:
        evaluator.report(missing, loaded.source, seed, loaded.record, computed)
    return cached


def _read(path: str) -> Dict:
    """A cached entry, or None when missing or not what this module writes (then computed anew)."""
    try:
        entry = json_input.read(path, "cached figures")
    except UserError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("values"), dict) or \
            not all(isinstance(v, (int, float)) or v is None for v in entry["values"].values()):
        return None
    return entry
