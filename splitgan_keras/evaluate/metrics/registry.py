"""Metrics by name. The name states the protocol, because sample counts change the numbers:

  is<N>           Inception Score of N samples with uniform labels, 10 splits, mean and std (the
                  original: is50k)
  fid<N>_train    FID of N samples against the first N training images (all of them if fewer),
                  tfgan's Frechet distance on pool_3 (the usual protocol: fid50k_train)
  builtin_quality<N>  built-in dataset only: how often N samples of every class show their class's
                  colour and, for classes that carry a sub-class, its sub-class, measured on the pixels
                  (metrics/builtin_quality.py); `builtin_quality` is builtin_quality100
  builtin_fid<N>_train  built-in dataset only: the Frechet distance of N samples with uniform
                  labels against the first N training images in the probe's feature space (the
                  built-in FID; builtin_quality.features)

N is a number with an optional k (1000). IS and FID use tfgan's Inception module: the values
are comparable with published ones only with its real weights (tfgan.eval.INCEPTION_TFHUB).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from splitgan_keras import config as config_lib, files
from splitgan_keras.artefacts import sampling
from splitgan_keras.data import builtin_data
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import builtin_quality, inception, scores
from splitgan_keras.replicas import Replicas

BUILTIN_QUALITY = builtin_quality.NAME
BUILTIN_FID = "builtin_fid"
_SPREADS = ("_std", "_se")
_NAME = re.compile(r"^(is|fid|%s|%s)(\d*)(k?)(_train)?$" % (BUILTIN_QUALITY, BUILTIN_FID))
AGAINST_TRAINING_IMAGES = ("fid", BUILTIN_FID)  # kinds whose names end in _train


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str      # "is" | "fid" | "builtin_quality" | "builtin_fid"
    samples: int   # in all; for builtin_quality, of every class


def builtin_quality_name(samples_per_class: int) -> str:
    return "%s%d" % (BUILTIN_QUALITY, samples_per_class)


def builtin_fid_name(samples: int) -> str:
    return "%s%d_train" % (BUILTIN_FID, samples)


DEFAULT_BUILTIN_QUALITY = builtin_quality_name(builtin_quality.SAMPLES_PER_CLASS)  # what `builtin_quality` means


def parse(name: str) -> MetricSpec:
    if name == BUILTIN_QUALITY:
        name = DEFAULT_BUILTIN_QUALITY
    match = _NAME.match(name)
    if not match or not match.group(2) or (match.group(1) in AGAINST_TRAINING_IMAGES) != bool(match.group(4)):
        raise UserError("unknown metric %r: use is<N> (e.g. is50k), fid<N>_train (e.g. fid50k_train), %s<N> "
                        "(N samples per class, e.g. %s) or %s<N>_train (e.g. %s2000_train)"
                        % (name, BUILTIN_QUALITY, builtin_quality_name(100), BUILTIN_FID, BUILTIN_FID))
    samples = int(match.group(2)) * (1000 if match.group(3) else 1)
    least = {BUILTIN_QUALITY: 1, BUILTIN_FID: 2}.get(match.group(1), scores.IS_SPLITS)
    if samples < least:
        raise UserError("metric %r: at least %d samples are needed" % (name, least))
    return MetricSpec(name, match.group(1), samples)


class Evaluator:
    """Computes named metrics of a generator, sharing the Inception network and the real statistics.

    Args:
      inception_handle: tfgan's TF-Hub handle or a local module folder (None: tfgan's default).
      real_images: uint8 [N, H, W, 3] training images for FID, or None.
      data_name: what the real images are, for the statistics cache key.
      cache_dir: folder of cached real statistics.
      progress: show progress bars.
      run_cfg: the config.Config of the run the generator comes from, or None; builtin_quality
        and builtin_fid need a run on the built-in dataset.
      class_state: returns (current class of every training image int [N], parent of every class
        int [C]) of the generator, or None; builtin_quality needs it.
      replicas: the run's replicas, which share the Inception passes (and, with a source made
        with the same replicas, the generation); then every process must evaluate together.
    """

    def __init__(self, inception_handle: Optional[str] = None, real_images: Optional[np.ndarray] = None,
                 data_name: str = "", cache_dir: Optional[str] = None, progress: bool = False, run_cfg=None,
                 class_state: Optional[Callable[[], Tuple[np.ndarray, np.ndarray]]] = None,
                 replicas: Replicas = Replicas()):
        self.inception_handle = inception_handle
        self.replicas = replicas
        self.real_images, self.data_name = real_images, data_name
        self.cache_dir = cache_dir or config_lib.user_cache_dir()
        self.progress = progress
        self.run_cfg, self.class_state = run_cfg, class_state
        self._network = None
        self._real_statistics = {}  # n -> (mean, cov): training evaluates against the same images each time

    def check(self, names: List[str]) -> List[MetricSpec]:
        """Parses the names and loads what they need now, so that a missing module fails early."""
        specs = [parse(n) for n in names]
        if any(s.kind in ("is", "fid") for s in specs):
            self.network()
        if any(s.kind in AGAINST_TRAINING_IMAGES for s in specs) and self.real_images is None:
            raise UserError("FID needs the training images: evaluate a run dir, or give --dataset/--data-dir")
        if any(s.kind == BUILTIN_QUALITY for s in specs) and (
                self.run_cfg is None or self.run_cfg.data.dataset != "builtin" or self.class_state is None):
            raise UserError("%s needs a run on the built-in dataset, with its labels (a run dir or checkpoint)"
                            % BUILTIN_QUALITY)
        if any(s.kind == BUILTIN_FID for s in specs) and (
                self.run_cfg is None or self.run_cfg.data.dataset != "builtin"):
            raise UserError("%s needs a run on the built-in dataset (a run dir or checkpoint)" % BUILTIN_FID)
        return specs

    def quality_probe(self, samples_per_class: int) -> builtin_quality.QualityProbe:
        """The built-in dataset's probe; the colours and kinds of its images come from the run's
        config (an unsupervised run's training view has dropped the colours)."""
        data = self.run_cfg.data
        colours, kinds = builtin_data.groups(data.builtin_size, data.builtin_seed)
        return builtin_quality.QualityProbe(colours, kinds, self.class_state, samples_per_class,
                                            labels_carry_kind=data.builtin_labels == builtin_data.COLOUR_AND_KIND)

    def network(self):
        if self._network is None:
            self._network = inception.InceptionNetwork(self.inception_handle, replicas=self.replicas)
        return self._network

    def evaluate(self, names: List[str], source, seed: int = 0) -> Dict[str, float]:
        """{metric: value}, plus "<is metric>_std" for Inception Scores."""
        results = {}
        samples, outputs = {}, {}  # sample count -> images, Inception outputs: shared by the metrics of that count

        def images_of(count: int) -> np.ndarray:
            if count not in samples:
                samples[count], _ = sampling.uniform_samples(source, count, seed)
            return samples[count]

        for spec in self.check(names):
            if spec.kind == BUILTIN_QUALITY:
                measured = self.quality_probe(spec.samples).measure(source, seed)
                results.update({spec.name + "/" + key: value for key, value in measured.items()})
                continue
            if spec.kind == BUILTIN_FID:
                results[spec.name] = builtin_quality.frechet_distance(self.real_images[:spec.samples],
                                                                      images_of(spec.samples))
                continue
            if spec.samples not in outputs:
                outputs[spec.samples] = self.network().outputs(images_of(spec.samples), self.progress)
            logits, pool = outputs[spec.samples]
            if spec.kind == "is":
                results[spec.name], results[spec.name + "_std"] = scores.inception_score(logits)
            else:
                results[spec.name] = scores.frechet_distance(self.real_statistics(spec.samples),
                                                             scores.activation_statistics(pool))
        return results

    @staticmethod
    def format(results: Dict[str, float]) -> str:
        """"is50k 8.21 +- 0.10, fid50k_train 21.3, ...": each value with its spread where it has one
        (an Inception Score's std over its splits, a standard error)."""
        parts = []
        for key, value in results.items():
            if key.endswith(_SPREADS):
                continue
            spread = next((results[key + s] for s in _SPREADS if key + s in results), None)
            parts.append("%s %.4g" % (key, value) + (" +- %.3g" % spread if spread is not None else ""))
        return ", ".join(parts)

    def real_statistics(self, n: int):
        """pool_3 mean and covariance of the first n training images, cached by data, n and module."""
        if n not in self._real_statistics:
            self._real_statistics[n] = self._cached_real_statistics(n)
        return self._real_statistics[n]

    def _cached_real_statistics(self, n: int):
        images = self.real_images[:n]
        key = hashlib.sha1()
        key.update(images.tobytes())
        key.update(inception.fingerprint(self.network().handle))
        path = os.path.join(self.cache_dir, "fid_train_%s_%d_%s.npz" % (
            re.sub(r"[^A-Za-z0-9]+", "-", self.data_name).strip("-")[:40], len(images), key.hexdigest()[:16]))
        if os.path.isfile(path):
            with np.load(path) as cached:
                return cached["mean"], cached["cov"]
        _, pool = self.network().outputs(images, self.progress)
        mean, cov = scores.activation_statistics(pool)
        buffer = io.BytesIO()
        np.savez(buffer, mean=mean, cov=cov)
        files.write_bytes(path, buffer.getvalue())
        return mean, cov
