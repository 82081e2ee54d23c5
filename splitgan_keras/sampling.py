"""Per-class samples from a generator, and image grids as PNG files."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from splitgan_keras import files
from splitgan_keras.networks import NOISE_DIM

# The original samples its grids and Inception Score images in batches of 100.
SAMPLE_BATCH = 100


def to_uint8(images) -> np.ndarray:
    """[-1, 1] floats -> uint8, as the original converts its samples ((x + 1) * 255.99 / 2)."""
    return ((np.asarray(images) + 1.0) * (255.99 / 2)).astype(np.int32).clip(0, 255).astype(np.uint8)


class ClassSampler:
    """Generates fixed per-class samples: the same noise every call, so grids show progress.

    Labels are shuffled across batches of about SAMPLE_BATCH so that every batch (and its batch
    statistics) holds a uniform mix of classes, as the original's uniformly-labelled batches do.
    """

    def __init__(self, generator, seed: int):
        self.generator = generator
        self.seed = seed
        # Traced per batch shape (at most two per grid): static shapes, as the NPU needs.
        self._generate = tf.function(lambda z, y: generator(z, y))

    def samples(self, num_classes: int, per_class: int) -> np.ndarray:
        """float32 [num_classes * per_class, H, W, 3] in [-1, 1], class-major order."""
        rng = np.random.default_rng(self.seed)
        labels = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
        noise = rng.standard_normal((len(labels), NOISE_DIM)).astype(np.float32)
        order = rng.permutation(len(labels))
        images = np.empty((len(labels),) + tuple(self._image_shape()), np.float32)
        n_batches = -(-len(labels) // SAMPLE_BATCH)
        for batch in np.array_split(order, n_batches):
            images[batch] = self._generate(noise[batch], labels[batch]).numpy()
        return images

    def _image_shape(self):
        size = self.generator.image_size
        return size, size, 3


def grid(images: np.ndarray, columns: int, border: int = 1) -> np.ndarray:
    """Tiles uint8 [N, H, W, 3] row-major into uint8 [rows*(H+b)+b, columns*(W+b)+b, 3], b = border."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + border) + border, columns * (w + border) + border, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = border + r * (h + border), border + col * (w + border)
        out[y:y + h, x:x + w] = image
    return out


def write_png(path: str, image: np.ndarray) -> None:
    """Writes uint8 [H, W, 3] atomically."""
    files.write_bytes(path, tf.io.encode_png(image).numpy())


def write_class_grid(path: str, sampler: ClassSampler, num_classes: int, per_class: int) -> None:
    """One row per class, `per_class` samples per row."""
    images = to_uint8(sampler.samples(num_classes, per_class))
    write_png(path, grid(images, per_class))
