"""The built-in procedural dataset: 10 classes, each hiding 2 visually distinct sub-classes.

Class k has its own colour (hue k/10). Both sub-classes draw it on a dim background of the same hue:
sub-class 0 as a smooth bright blob, sub-class 1 as 2-pixel stripes. Every image thus shows one hue,
its class's, that a person can name at a glance (the first version striped the colour with its
complement, which made a class's stripes and those of the class five hues away the same two hues,
told apart only by which was brighter). The class label says only the colour, so a class split that
recovers the blob/stripe sub-classes can be scored against ground truth. Generation is vectorised numpy and deterministic in its seed.
"""
from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

from splitgan_keras.data.image_data import Appearance, ImageData

NUM_CLASSES = 10
KINDS = ("blob", "stripes")  # the sub-classes, by number
COLOURS = ("red", "orange", "lime", "green", "mint", "cyan", "azure", "blue", "purple", "pink")  # class_colours' hues
COLOUR_AND_KIND = "colour_and_kind"  # data.builtin_labels of the oracle: a class per colour and kind


def class_colours() -> np.ndarray:
    """float32 [10, 3] RGB in [0, 1], one saturated hue per class."""
    return np.array([colorsys.hsv_to_rgb(k / NUM_CLASSES, 0.85, 0.95) for k in range(NUM_CLASSES)],
                    dtype=np.float32)


def _background(colour: np.ndarray) -> np.ndarray:
    """float32 [N, 1, 1, 3]: the dim background of both sub-classes, for colours [N, 3]."""
    return 0.25 * colour[:, None, None, :]


def _blobs(colour: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [N, size, size, 3]: a Gaussian blob at a random place and width, per image."""
    n = len(colour)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    cy, cx = (rng.uniform(0.3, 0.7, (2, n, 1, 1))).astype(np.float32)
    sigma = rng.uniform(0.12, 0.22, (n, 1, 1)).astype(np.float32)
    r2 = (grid[None, :, None] - cy) ** 2 + (grid[None, None, :] - cx) ** 2
    weight = np.exp(-r2 / (2 * sigma ** 2))[..., None]
    bright = (0.6 * colour + 0.4)[:, None, None, :]
    return _background(colour) + (bright - _background(colour)) * weight


def _stripes(colour: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [N, size, size, 3]: 2-pixel stripes of the colour on its dim background."""
    n = len(colour)
    pixels = np.arange(size)
    phase = rng.integers(0, 4, (n, 1, 1))
    vertical = rng.integers(0, 2, (n, 1, 1)).astype(bool)
    along = np.where(vertical, pixels[None, None, :], pixels[None, :, None])
    on = (((along + phase) // 2) % 2 == 0)[..., None]
    return np.where(on, colour[:, None, None, :], _background(colour)).astype(np.float32)


def _groups(rng: np.random.Generator, size: int):
    order = rng.permutation(size)
    return (order % NUM_CLASSES).astype(np.int32), ((order // NUM_CLASSES) % 2).astype(np.int32)


def appearance(size: int, seed: int = 0, labels: str = "colour") -> Appearance:
    """What every image of `make(size, ..., seed)` shows (its colour and kind), without drawing
    the images; `labels`: data.builtin_labels."""
    colour, kind = _groups(np.random.default_rng(seed), size)
    return Appearance(colour, kind, KINDS, labels_carry_kind=labels == COLOUR_AND_KIND, colour_names=COLOURS)


TEST_SHARE = 5  # the test split has a fifth of the training set's size, as CIFAR-10's (10000 and 50000)


def test_size(size: int) -> int:
    """Images in the test split of a built-in dataset of `size` training images."""
    return max(NUM_CLASSES * len(KINDS), size // TEST_SHARE)


def make(size: int, image_size: int = 32, seed: int = 0, test: bool = False) -> ImageData:
    """Generates the data set.

    Args:
      size: number of images; classes and sub-classes are balanced to within one image.
      image_size: side of the square images.
      seed: seed of everything random here.
      test: the test split instead: test_size(size) images from a random stream of their own.

    Returns:
      ImageData with images uint8 [size, image_size, image_size, 3], labels int32 [size] in 0..9 and
      subclasses int32 [size] in {0, 1}.
    """
    if test:
        size = test_size(size)
    rng = np.random.default_rng([seed, 1] if test else seed)  # [seed, 1]: a stream independent of seed's
    labels, subclasses = _groups(rng, size)
    colour = class_colours()[labels]
    images = np.empty((size, image_size, image_size, 3), np.float32)
    blob = subclasses == 0
    images[blob] = _blobs(colour[blob], image_size, rng)
    images[~blob] = _stripes(colour[~blob], image_size, rng)
    images += rng.normal(0.0, 0.03, images.shape).astype(np.float32)
    pixels = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    return ImageData(pixels, labels, NUM_CLASSES, "built-in dataset%s (seed %d, %d images)"
                     % (" test split" if test else "", seed, size),
                     subclasses, Appearance(labels, subclasses, KINDS, colour_names=COLOURS))


def num_classes(labels: str) -> int:
    """The classes of the built-in dataset under data.builtin_labels `labels`."""
    return NUM_CLASSES * len(KINDS) if labels == COLOUR_AND_KIND else NUM_CLASSES


def labelled_by_colour_and_kind(data: ImageData) -> ImageData:
    """The same images, each in class colour + 10 * kind (0..19): the 20 true groups as labels."""
    return ImageData(data.images, (data.labels + NUM_CLASSES * data.subclasses).astype(np.int32),
                     num_classes(COLOUR_AND_KIND), data.description + ", labelled by colour and kind", data.subclasses,
                     dataclasses.replace(data.appearance, labels_carry_kind=True))


# The loader interface (dataset_names.py): what data/datasets.py calls for --dataset builtin.

def where(cfg) -> str:
    return "the built-in dataset"


def training_set(cfg) -> ImageData:
    data = make(cfg.data.builtin_size, cfg.model.image_size, cfg.data.builtin_seed)
    return labelled_by_colour_and_kind(data) if cfg.data.builtin_labels == COLOUR_AND_KIND else data


def test_set(cfg) -> ImageData:
    return make(cfg.data.builtin_size, cfg.model.image_size, cfg.data.builtin_seed, test=True)


def classes(cfg) -> int:
    return num_classes(cfg.data.builtin_labels)


def appearance_of(cfg) -> Appearance:
    return appearance(cfg.data.builtin_size, cfg.data.builtin_seed, cfg.data.builtin_labels)
