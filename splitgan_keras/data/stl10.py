"""STL-10 unlabelled images (stl10_binary/unlabeled_X.bin), resized to the model's size.

The binary file holds uint8 images of 3x96x96, each channel stored column-major. The original
resized them to 48x48 with PIL's bilinear filter, which averages over the footprint when it
shrinks; tf.image.resize with antialias=True uses the same triangle filter. The images carry
no labels: everything starts in one class, and each image keeps its index, so the labels that
class splits assign stay with their images (the original's STL-10 script lost that pairing).
"""
from __future__ import annotations

import os

import numpy as np

from splitgan_keras.data.image_data import ImageData
from splitgan_keras.errors import UserError

NUM_CLASSES = 1  # unlabelled: every image starts in one class

FILE = os.path.join("stl10_binary", "unlabeled_X.bin")
SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
MAX_IMAGES = 100000  # the real file's count: a larger one would be resized into memory whole
_WHERE = "download stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ and extract it"
_RESIZE_CHUNK = 2000


def locate(path: str) -> str:
    """The unlabeled_X.bin file that `load(path)` reads; checks that it is there."""
    for candidate in (path, os.path.join(path, "unlabeled_X.bin"), os.path.join(path, FILE)):
        if os.path.isfile(candidate):
            return candidate
    if not os.path.exists(path):
        raise UserError("--data-dir %s does not exist; %s" % (path, _WHERE))
    raise UserError("--data-dir %s holds no %s; %s" % (path, FILE, _WHERE))


def load(path: str, image_size: int) -> ImageData:
    """Loads unlabeled_X.bin (the file, its stl10_binary folder or the folder above).

    Returns:
      ImageData with images uint8 [N, image_size, image_size, 3] (N = 100000 for the real file),
      all in class 0.
    """
    filename = locate(path)
    size = os.path.getsize(filename)
    if size == 0 or size % IMAGE_BYTES:
        raise UserError("%s has %d bytes, not a whole number of 3x96x96 uint8 images (%d bytes each): truncated?"
                        % (filename, size, IMAGE_BYTES))
    if size > MAX_IMAGES * IMAGE_BYTES:
        raise UserError("%s holds %d images; STL-10's unlabelled set has %d (is it unlabeled_X.bin?)"
                        % (filename, size // IMAGE_BYTES, MAX_IMAGES))
    raw = np.memmap(filename, np.uint8, "r").reshape(-1, 3, SIDE, SIDE)
    images = np.empty((len(raw), image_size, image_size, 3), np.uint8)
    for start in range(0, len(raw), _RESIZE_CHUNK):
        chunk = np.transpose(raw[start:start + _RESIZE_CHUNK], (0, 3, 2, 1))  # column-major channels -> NHWC
        images[start:start + len(chunk)] = _resize(chunk, image_size)
    return ImageData(images, np.zeros(len(images), np.int32), NUM_CLASSES,
                     "STL-10 unlabelled at %s (%d images)" % (filename, len(images)))


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    import tensorflow as tf  # only STL-10 needs TensorFlow while loading

    if images.shape[1] == size:
        return images
    resized = tf.image.resize(tf.cast(images, tf.float32), [size, size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()


# The loader interface (dataset_names.py): what data/datasets.py calls for --dataset stl10 (no test split).

def where(cfg) -> str:
    return locate(cfg.data.data_dir)


def training_set(cfg) -> ImageData:
    return load(cfg.data.data_dir, cfg.model.image_size)


def classes(cfg) -> int:
    return NUM_CLASSES
