"""The in-memory training set and its checks, shared by every loader."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from splitgan_keras.errors import UserError


@dataclasses.dataclass(frozen=True)
class Appearance:
    """What every image of a data set shows, where the data set knows it because it drew them (the
    built-in one): a probe reads the same two things back from generated images
    (evaluate/metrics/builtin_quality.py).

    Attributes:
      colour: int32 [N], the hue (class colour 0..9) of every image.
      kind: int32 [N], what every image draws, an index into kind_names.
      kind_names: the kinds' names, e.g. ("blob", "stripes").
      labels_carry_kind: the training labels say the kind as well as the colour, so every class
        carries a sub-class (the built-in oracle's labels); else only classes made by splits do.
      colour_names: the colours' names, by number ("red", ...).
      labels_carry_colour: the training labels say the colour (the data set's own labels); not in an unsupervised
        run, where every class is what the splits made of one.
    """

    colour: np.ndarray
    kind: np.ndarray
    kind_names: Tuple[str, ...]
    labels_carry_kind: bool = False
    colour_names: Tuple[str, ...] = ()
    labels_carry_colour: bool = True

    def groups(self) -> np.ndarray:
        """int [N]: the group (colour x kind) of every image, colour * len(kind_names) + kind."""
        return self.colour * len(self.kind_names) + self.kind


@dataclasses.dataclass(frozen=True)
class ImageData:
    """A training set held in memory, in data-set order.

    Attributes:
      images: uint8 [N, H, W, 3], NHWC.
      labels: int32 [N], initial class of each image, in [0, num_classes).
      num_classes: number of initial classes.
      description: where the data came from, for logs and errors.
      subclasses: int32 [N] hidden ground truth finer than the labels, or None. The built-in data
        set's blob/stripe sub-classes (0 or 1); in unsupervised mode the dropped labels.
      appearance: what every image shows, where the data set knows it (Appearance), or None.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    description: str
    subclasses: Optional[np.ndarray] = None
    appearance: Optional[Appearance] = None

    def __len__(self) -> int:
        return len(self.images)


def unsupervised(data: ImageData) -> ImageData:
    """The same images in one class. The dropped labels (combined with any sub-classes) become
    the hidden ground truth that class splits are scored against."""
    truth = data.labels if data.num_classes > 1 else None
    if data.subclasses is not None:
        truth = data.labels * (int(data.subclasses.max()) + 1) + data.subclasses
    shown = (None if data.appearance is None else
             dataclasses.replace(data.appearance, labels_carry_colour=False, labels_carry_kind=False))
    return ImageData(data.images, np.zeros(len(data.images), np.int32), 1, data.description + ", unsupervised",
                     None if truth is None else truth.astype(np.int32), shown)


def check(data: ImageData, image_size: int, min_examples: int) -> None:
    """Checks shapes, dtype and label range; raises UserError naming the data set."""
    images, labels = data.images, data.labels
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (image_size, image_size, 3):
        raise UserError("%s: expected uint8 images of shape [N, %d, %d, 3], got %s %s"
                        % (data.description, image_size, image_size, images.dtype, list(images.shape)))
    if labels.shape != (len(images),):
        raise UserError("%s: %d labels for %d images" % (data.description, labels.size, len(images)))
    if len(images) < min_examples:
        raise UserError("%s: %d images, fewer than one critic batch of %d"
                        % (data.description, len(images), min_examples))
    if labels.size and (labels.min() < 0 or labels.max() >= data.num_classes):
        raise UserError("%s: labels must lie in [0, %d), found %d..%d"
                        % (data.description, data.num_classes, labels.min(), labels.max()))
    missing = sorted(set(range(data.num_classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise UserError("%s: no images for class(es) %s of %d" % (data.description, missing, data.num_classes))
