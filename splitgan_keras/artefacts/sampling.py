"""Samples from a generator (a Keras model or an exported SavedModel).

Batch norm uses the statistics of each generator call, so how samples are batched is part of
the protocol: like the original, samples come in batches of 100 whose labels are a uniform mix.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterator, List, Tuple, Union

import numpy as np
import tensorflow as tf

from splitgan_keras.models.networks import NOISE_DIM
from splitgan_keras.replicas import Replicas

SAMPLE_BATCH = 100  # the original samples its grids and Inception Score images 100 at a time


def to_uint8(images):
    """[-1, 1] floats -> uint8, as the original converts samples: int((x + 1) * 255.99 / 2)."""
    pixels = tf.clip_by_value((tf.convert_to_tensor(images) + 1.0) * (255.99 / 2), 0.0, 255.0)
    return tf.cast(pixels, tf.uint8)  # the cast truncates, as the original's astype('int32')


class SampleSource:
    """What samples come from: image_size, num_active(), class_parents(), generate(noise, labels)
    for one batch, and generate_batches, here one batch after the other."""

    def generate_batches(self, batches):
        """generate() of every (noise, labels) batch, in order."""
        return (self.generate(noise, labels) for noise, labels in batches)


class GeneratorSource(SampleSource):
    """Images from a Keras Generator; every batch shape is traced once (static shapes, as the NPU needs).

    With the run's replicas (a strategy), generate_batches spreads the batches over them, so every
    process must draw the same samples together (evaluation does; pictures, drawn by the chief
    alone, take a source without replicas).
    """

    def __init__(self, generator, replicas: Replicas = Replicas()):
        self.generator = generator
        self.image_size = generator.image_size
        self._generate = tf.function(lambda z, y: to_uint8(generator(z, y)))
        self._generate_batches = replicas.batch_runner(self._generate)
        _quiet_about_batch_shapes()

    def num_active(self) -> int:
        return self.generator.class_state.num_active()

    def class_parents(self) -> np.ndarray:
        """int32 [num_active]: the parent of every class, -1 for an initial class."""
        return self.generator.class_state.parents()

    def generate(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] for noise float32 [N, 128] and labels int32 [N] (one batch)."""
        return self._generate(tf.constant(noise, tf.float32), tf.constant(labels, tf.int32)).numpy()

    def generate_batches(self, batches):
        """generate() of every (noise, labels) batch, in order."""
        return self._generate_batches((tf.constant(n, tf.float32), tf.constant(y, tf.int32)) for n, y in batches)

    def traced(self, batch: int) -> tf.types.experimental.ConcreteFunction:
        """The graph of one call on `batch` samples (for FLOP counts)."""
        return self._generate.get_concrete_function(tf.TensorSpec([batch, NOISE_DIM], tf.float32),
                                                    tf.TensorSpec([batch], tf.int32))


class _BatchShapesTraced(logging.Filter):
    """Drops TensorFlow's warning that a GeneratorSource function retraced "excessively": a pass draws batches whose
    size follows the sample count and the classes (an unsupervised run's 2, 4, ..., 32), and each shape is traced
    once on purpose (static shapes, as the NPU needs). Other functions' warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and GeneratorSource.__name__ in message)


def _quiet_about_batch_shapes() -> None:
    logger = tf.get_logger()
    if not any(isinstance(f, _BatchShapesTraced) for f in logger.filters):
        logger.addFilter(_BatchShapesTraced())


Chunk = Tuple[Union[slice, np.ndarray], np.ndarray]  # (where the images go among all the samples, uint8 images)


def _batches(n: int) -> List[np.ndarray]:
    """The batches of n samples: about SAMPLE_BATCH each, as even as can be (part of the protocol)."""
    return np.array_split(np.arange(n), max(1, -(-n // SAMPLE_BATCH)))


def _generate_chunks(source, labels: np.ndarray, noise_for: Callable[[int, int], np.ndarray],
                     chunk: int) -> Iterator[Tuple[int, int, np.ndarray]]:
    """(start, stop, uint8 images [stop - start, H, W, 3]) of samples start..stop of labels int32 [n], in order,
    whole batches at a time, at most `chunk` samples (or one batch) each: the batches are those of all n at
    once, so the samples do not depend on `chunk`. noise_for(start, stop) -> float32 [stop - start, NOISE_DIM]
    is called once per chunk, in order."""
    group: List[np.ndarray] = []
    for batch in _batches(len(labels)) + [None]:
        if group and (batch is None or batch[-1] + 1 - group[0][0] > chunk):
            start, stop = int(group[0][0]), int(group[-1][-1]) + 1
            noise = noise_for(start, stop)
            images = np.empty((stop - start, source.image_size, source.image_size, 3), np.uint8)
            local = [b - start for b in group]
            for b, generated in zip(local, source.generate_batches((noise[b], labels[start:stop][b]) for b in local)):
                images[b] = generated
            yield start, stop, images
            group = []
        if batch is not None:
            group.append(batch)


def per_class_chunks(source, per_class: int, seed: int, chunk: int) -> Iterator[Chunk]:
    """The samples of per_class_samples, at most `chunk` (or one batch) at a time: (positions int [m] in the
    class-major order, uint8 images [m, H, W, 3])."""
    num_active = source.num_active()
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_active, dtype=np.int32), per_class)
    noise = _noise(rng, len(labels))
    order = rng.permutation(len(labels))
    noise, labels = noise[order], labels[order]
    for start, stop, images in _generate_chunks(source, labels, lambda a, b: noise[a:b], chunk):
        yield order[start:stop], images


def per_class_samples(source, per_class: int, seed: int) -> np.ndarray:
    """uint8 [num_active * per_class, H, W, 3], class-major, the same noise on every call.

    Labels are shuffled across batches of about SAMPLE_BATCH, so each batch is a uniform mix.
    """
    return _gathered(per_class_chunks(source, per_class, seed, _ALL), source.num_active() * per_class,
                     source.image_size)


def class_samples(source, classes, per_class: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """per_class samples of each of `classes`: (uint8 [len(classes) * per_class, H, W, 3], int32 labels).

    Drawn as per_class_samples draws every class, keeping the chosen ones: batch norm normalises
    each batch by its own statistics, so a batch of one class alone would not show what the
    generator shows in its evaluations (and a class's samples are the same whichever others are
    asked for with it).
    """
    every = per_class_samples(source, per_class, seed).reshape((source.num_active(), per_class) +
                                                               (source.image_size, source.image_size, 3))
    chosen = np.asarray(classes, np.int32)
    return every[chosen].reshape((-1, source.image_size, source.image_size, 3)), np.repeat(chosen, per_class)


def uniform_chunks(source, n: int, seed: int, chunk: int) -> Iterator[Chunk]:
    """The samples of uniform_samples, at most `chunk` (or one batch) at a time: (slice of the n, uint8 images
    [m, H, W, 3]). Noise is drawn per chunk, so memory holds one chunk's images and noise, not all n."""
    rng = np.random.default_rng(seed)
    labels = _uniform_labels(rng, n, source.num_active())
    # One stream drawn in consecutive parts gives the numbers of one draw of them all: the samples do not
    # depend on `chunk` (a test checks).
    for start, stop, images in _generate_chunks(source, labels, lambda a, b: _noise(rng, b - a), chunk):
        yield slice(start, stop), images


def uniform_samples(source, n: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """n samples with labels drawn uniformly from the active classes, as the original's IS samples.

    Returns:
      (uint8 [n, H, W, 3], int32 [n] labels).
    """
    labels = _uniform_labels(np.random.default_rng(seed), n, source.num_active())  # uniform_chunks' first draw
    return _gathered(uniform_chunks(source, n, seed, _ALL), n, source.image_size), labels


def _uniform_labels(rng: np.random.Generator, n: int, num_active: int) -> np.ndarray:
    """int32 [n]: labels uniform over the active classes, the first draw from a seed's stream (as the original's)."""
    return (rng.uniform(size=n) * num_active).astype(np.int32)


_ALL = 2 ** 62  # a chunk that holds every sample


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """float32 [n, NOISE_DIM] standard normal noise, drawn in parts: one float64 draw of them all would hold
    twice their memory."""
    noise = np.empty((n, NOISE_DIM), np.float32)
    for start in range(0, n, 65536):
        noise[start:start + 65536] = rng.standard_normal((min(65536, n - start), NOISE_DIM))
    return noise


def _gathered(chunks: Iterator[Chunk], n: int, image_size: int) -> np.ndarray:
    """uint8 [n, H, W, 3]: the chunks' images, each at its positions."""
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    for positions, part in chunks:
        images[positions] = part
    return images
