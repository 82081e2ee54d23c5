"""A sample-quality figure for the built-in dataset, measured on the pixels, with no model.

The built-in images are procedural (builtin_data.py), so what a person sees in them can be read
off the pixels directly. A learned classifier would need training (a seed and a cache to keep
the figure reproducible) and would judge generated images that lie outside what it was trained
on; these two measurements have neither problem:

  colour  the hue of the image's brightest tenth of pixels, weighted by saturation, taken to the
          nearest class hue k/10: a blob's bright centre, a striped image's bright stripes (in the
          dataset's first version, whose stripes paired the colour (value 0.95) with its complement
          (0.86), still the colour's);
  kind    stripes when at least a fifth of the image's energy (pixels minus their mean, all
          channels) lies at the stripes' period of 4 pixels along the rows or along the columns
          (real stripes: 99%; real blobs: under 2%); else blob. A generator's first attempts at
          stripes, concentric squares at that period, count as stripes, as they look to a person.

For every active class of a generator, `samples_per_class` samples are measured:

  class_accuracy     how often a sample shows the colour that its class's real images mostly have;
  subclass_accuracy  over the classes that carry a sub-class, how often a sample shows the kind
                     that its class's real images mostly have (chance: 50%). Those classes are the
                     ones splits made (a parent or a child), or all of them when the training
                     labels are colour and kind (data.builtin_labels, the ablation's oracle).

Each comes with its standard error over the samples (binomial). The figures are a function of
the generator, the seed and the sample count alone.

The built-in FID (metric name builtin_fid<N>_train) is the Frechet distance between generated
and training images in the space of what the probe reads (features()): a distance for the whole
distribution, so it also sees a generator that draws one kind only, which per-class accuracies
cannot. It is comparable between runs on the built-in dataset only, never with an Inception FID.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras import compat
from splitgan_keras.artefacts import sampling
from splitgan_keras.data import builtin_data
from splitgan_keras.models import hierarchy

BRIGHTEST = 0.1           # the share of pixels whose hue is the image's colour
STRIPE_PERIOD = 4         # pixels: 2 of the colour, 2 of the dim background
STRIPE_ENERGY = 0.2       # the share of the energy at the stripe period from which an image is striped


def _hsv(images: np.ndarray) -> np.ndarray:
    """float32 [N, H*W, 3]: hue, saturation and value of every pixel of uint8 images [N, H, W, 3]."""
    return tf.image.rgb_to_hsv(tf.cast(images, tf.float32) / 255.0).numpy().reshape(len(images), -1, 3)


def _hue_vector(hsv: np.ndarray, brightest: bool) -> np.ndarray:
    """float64 [N, 2]: the saturation-weighted mean of (cos, sin) of the hue, an angle, over each
    image's brightest (or darkest) tenth of pixels; hsv as _hsv gives it."""
    count = max(1, int(round(BRIGHTEST * hsv.shape[1])))
    order = -hsv[..., 2] if brightest else hsv[..., 2]
    chosen = np.argpartition(order, count - 1, axis=1)[:, :count]
    hue, saturation = (np.take_along_axis(hsv[..., i], chosen, axis=1).astype(np.float64) for i in (0, 1))
    angle = 2 * np.pi * hue
    return np.stack([(saturation * np.cos(angle)).mean(1), (saturation * np.sin(angle)).mean(1)], axis=1)


def colours(images: np.ndarray) -> np.ndarray:
    """int [N]: the class colour (0..9) each uint8 image [N, H, W, 3] shows."""
    x, y = _hue_vector(_hsv(images), brightest=True).T
    return np.round(np.arctan2(y, x) / (2 * np.pi) * builtin_data.NUM_CLASSES).astype(int) % builtin_data.NUM_CLASSES


def stripe_energy(images: np.ndarray) -> np.ndarray:
    """float [N]: the share of each image's energy at the stripe period along the rows or the
    columns: the 2-D spectrum's columns and rows at +-1/STRIPE_PERIOD cycles per pixel (1 for
    perfect stripes, about 0 for a smooth blob). Images uint8 [N, H, W, 3], H and W multiples of
    the period."""
    x = images.astype(np.float64) / 255.0
    x -= x.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2).sum(-1)  # [N, H, W] over the channels
    fy, fx = images.shape[1] // STRIPE_PERIOD, images.shape[2] // STRIPE_PERIOD
    at_period = np.zeros(power.shape[1:], bool)
    at_period[[fy, -fy], :] = True
    at_period[:, [fx, -fx]] = True
    return power[:, at_period].sum(-1) / np.maximum(power.sum(axis=(1, 2)), 1e-12)


def kinds(images: np.ndarray) -> np.ndarray:
    """int [N]: 1 where a uint8 image [N, H, W, 3] is striped, 0 where it is a blob."""
    return (stripe_energy(images) >= STRIPE_ENERGY).astype(int)


PROBE_FEATURES = 8


def features(images: np.ndarray) -> np.ndarray:
    """float64 [N, 8]: what the probe reads off each uint8 image [N, H, W, 3], as a vector for a
    Frechet distance: the hue vectors of its brightest and of its darkest tenth of pixels (its
    colour and its dim background), its stripe energy, and the
    mean and standard deviation of its brightness and the mean of its saturation."""
    hsv = _hsv(images).astype(np.float64)
    return np.concatenate([
        _hue_vector(hsv, brightest=True), _hue_vector(hsv, brightest=False), stripe_energy(images)[:, None],
        hsv[..., 2].mean(1, keepdims=True), hsv[..., 2].std(1, keepdims=True), hsv[..., 1].mean(1, keepdims=True)],
        axis=1)


def frechet_distance(real_images: np.ndarray, generated_images: np.ndarray) -> float:
    """The built-in FID of two sets of uint8 images [N, H, W, 3] (N >= 2 each; they need not be the same size)."""
    return feature_distance(features(real_images), features(generated_images))


def feature_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """tfgan's Frechet distance between two sets of probe features (features()) [N, 8] and [M, 8]."""
    distance = compat.gan_metrics().frechet_classifier_distance_from_activations
    return float(distance(tf.constant(real), tf.constant(generated)))


def _accuracy(hits: np.ndarray) -> Tuple[float, float]:
    """(share of hits, its binomial standard error) of bool hits of any shape."""
    p = float(np.mean(hits))
    return p, float(np.sqrt(p * (1 - p) / hits.size))


class QualityProbe:
    """Measures class and sub-class accuracy of a generator trained on the built-in dataset.

    Args:
      colour_of_example: int [N], every training image's colour (the built-in labels).
      kind_of_example: int [N], every training image's kind (0 blob, 1 stripes).
      example_classes: returns (current class of every training image int [N], parent of every class
        int [C], -1 for initial classes), read at each measurement.
      samples_per_class: samples of every class per measurement.
      labels_carry_kind: the training labels are colour and kind, so every class carries a sub-class.
    """

    def __init__(self, colour_of_example: np.ndarray, kind_of_example: np.ndarray,
                 example_classes: Callable[[], Tuple[np.ndarray, np.ndarray]], samples_per_class: int,
                 labels_carry_kind: bool = False):
        self.colour_of_example, self.kind_of_example = colour_of_example, kind_of_example
        self.example_classes, self.samples_per_class = example_classes, samples_per_class
        self.labels_carry_kind = labels_carry_kind

    def intended(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(colour int [C], kind int [C], carries a sub-class bool [C]) of every class, from its real
        images; -1 for a class that holds no image (a k-means cluster may come out empty)."""
        example_labels, parents = self.example_classes()
        carries_kind = np.ones(len(parents), bool) if self.labels_carry_kind else hierarchy.made_by_splits(parents)
        return (hierarchy.majority_per_class(self.colour_of_example, example_labels, len(parents)),
                hierarchy.majority_per_class(self.kind_of_example, example_labels, len(parents)), carries_kind)

    def measure(self, source, seed: int = 0) -> Dict[str, float]:
        """{class_accuracy, class_accuracy_se, and where classes carry a sub-class subclass_accuracy,
        subclass_accuracy_se}."""
        colour, kind, carries_kind = self.intended()
        images = sampling.per_class_samples(source, self.samples_per_class, seed)
        seen_colour = colours(images).reshape(len(colour), -1)
        seen_kind = kinds(images).reshape(len(colour), -1)
        has_images = colour >= 0
        results = {}
        results["class_accuracy"], results["class_accuracy_se"] = _accuracy(
            seen_colour[has_images] == colour[has_images, None])
        chosen = carries_kind & has_images
        if chosen.any():
            results["subclass_accuracy"], results["subclass_accuracy_se"] = _accuracy(
                seen_kind[chosen] == kind[chosen, None])
        return results


def describe(results: Dict[str, float], name: str) -> str:
    """One line for people about the `name/...` entries of `results` (metric_names.py names them)."""
    def percent(key):
        return 100 * results[name + "/" + key], 100 * results[name + "/" + key + "_se"]

    text = "%s: samples show their class's colour %.1f%% (+- %.1f) of the time" % ((name,) + percent("class_accuracy"))
    if name + "/subclass_accuracy" in results:
        text += ", and their class's sub-class %.1f%% (+- %.1f; chance 50%%) where it has one" % percent(
            "subclass_accuracy")
    return text
