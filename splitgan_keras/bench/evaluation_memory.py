"""python -m splitgan_keras.bench --evaluation-memory N: the memory the metrics take at N samples, on
the CPU, in a process of its own (peak RSS only grows, so nothing else may run in it first).

The samples are random uint8 images (what they show does not change the memory), and the feature
network is a saved module with the real one's outputs (logits [N, 1008], pool_3 [N, 2048]) but
almost none of its compute, so the pipeline's own arrays are what is measured: the samples, their
Inception outputs, the real features (computed, cached, memory-mapped), their statistics, KID's
and precision-recall's working sets. The report says the peak resident memory above the
baseline of TensorFlow and the network loaded, and the time each metric took.
"""
from __future__ import annotations

import resource
import tempfile
import time
from typing import Dict, List

import numpy as np
import tensorflow as tf

from splitgan_keras.artefacts import sampling
from splitgan_keras.bench.common import synthetic
from splitgan_keras.evaluate.metrics import inception, registry

IMAGE_SIZE = 32


class _LightFeatures(tf.Module):
    """A feature network with Inception's interface and output sizes, at a tiny fraction of its compute."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.pool_weights = tf.Variable(rng.normal(0, 0.3, (3 * 16, 2048)).astype(np.float32))
        self.logit_weights = tf.Variable(rng.normal(0, 0.05, (2048, 1008)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec(shape=None, dtype=tf.float32)])
    def __call__(self, images):
        cells = tf.nn.avg_pool2d(images, 75, 75, "VALID")  # [N, 3, 3, 3] -> 27 numbers, padded below
        flat = tf.reshape(cells, [tf.shape(images)[0], -1])
        moments = tf.concat([flat, tf.zeros([tf.shape(images)[0], 3 * 16 - 27])], 1)
        pool = tf.nn.relu(tf.matmul(moments, self.pool_weights))
        return {inception.LOGITS: tf.matmul(pool, self.logit_weights), inception.POOL: pool[:, None, None, :]}


class _RandomImages(sampling.SampleSource):
    """Random uint8 images as samples, in 10 classes."""

    image_size = IMAGE_SIZE

    def __init__(self):
        self._rng = np.random.default_rng(1)

    def num_active(self) -> int:
        return 10

    def class_parents(self) -> np.ndarray:
        return np.full(10, -1, np.int32)

    def generate(self, noise, labels):
        return self._rng.integers(0, 256, (len(labels), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)


def _rss_gib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 2 ** 20  # kB


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux reports KiB


def run(samples: int, metrics: List[str]) -> Dict:
    """Evaluates `metrics` of random samples against `samples` random real images; returns the
    memory and times."""
    with tempfile.TemporaryDirectory() as work:
        tf.saved_model.save(_LightFeatures(), work + "/module")
        data = synthetic(samples, IMAGE_SIZE)
        evaluator = registry.Evaluator(work + "/module", data, work + "/cache")
        evaluator.check(metrics)  # loads the network
        baseline = _rss_gib()
        times, peaks = {}, {}
        for metric in metrics:  # one at a time, so that each one's peak shows (the peak only grows)
            start = time.perf_counter()
            evaluator.report([metric], _RandomImages(), 0)
            times[metric], peaks[metric] = time.perf_counter() - start, _peak_gib() - baseline
        return {"samples": samples, "metrics": metrics, "seconds": times, "peak_above_baseline_gib_after": peaks,
                "baseline_rss_gib": baseline, "peak_rss_gib": _peak_gib(),
                "peak_above_baseline_gib": _peak_gib() - baseline,
                "real_images_gib": data.images.nbytes / 2 ** 30}


def format_table(report: Dict) -> str:
    lines = ["evaluation memory at %d samples (random images, a feature network of Inception's output sizes)"
             % report["samples"]]
    lines += ["  %-22s %8.1f s, peak so far %.2f GiB above the baseline" % (
        metric, seconds, report["peak_above_baseline_gib_after"][metric]) for metric, seconds in report["seconds"].items()]
    lines.append("  baseline RSS %.2f GiB (TensorFlow, the network, %.2f GiB of real images); peak %.2f GiB: "
                 "%.2f GiB above the baseline" % (report["baseline_rss_gib"], report["real_images_gib"],
                                                  report["peak_rss_gib"], report["peak_above_baseline_gib"]))
    return "\n".join(lines)
