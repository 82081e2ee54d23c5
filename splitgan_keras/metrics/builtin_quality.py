"""A sample-quality figure for the built-in dataset that a CPU can measure in seconds.

A small classifier learns the dataset's 20 hidden groups (10 colours x blob/stripe) once; it is
cached. Then, for every active class of a generator, samples are classified:

  class_accuracy     how often a sample has the colour that its class's real images mostly have;
  subclass_accuracy  over the classes that splits made (a parent or a child), how often a sample
                     has the kind (blob or stripes) that its class's real images mostly have.

The second number shows whether a split class learned the sub-class k-means gave it.
"""
from __future__ import annotations

import hashlib
import os
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras import builtin_data, sampling
from splitgan_keras.datasets import ImageData
from splitgan_keras.metrics import registry

PREFIX = "builtin_quality/"
SAMPLES_PER_CLASS = 100
_TRAINING_STEPS = 600  # batches of 64, whatever the data set's size


def _classifier(num_groups: int) -> tf.keras.Model:
    return tf.keras.Sequential([
        tf.keras.layers.Rescaling(1.0 / 127.5, offset=-1.0),
        # 2-pixel stripes alternate every 4 pixels: a stride-2 3x3 convolution still sees them.
        tf.keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(num_groups)], name="builtin_group_classifier")


def group_classifier(data: ImageData, cache_dir: str, seed: int = 0) -> Tuple[tf.keras.Model, float]:
    """The classifier of the 20 hidden groups (label * 2 + sub-class), trained once and cached.

    Args:
      data: the built-in dataset with its labels and sub-classes (not the unsupervised view).
      cache_dir: where trained weights are kept, keyed by the data set's size, image size and content.

    Returns:
      (model, accuracy on the held-out tenth of the data).
    """
    groups = (data.labels * 2 + data.subclasses).astype(np.int32)
    digest = hashlib.sha1(data.images.tobytes() + groups.tobytes()).hexdigest()[:16]
    path = os.path.join(cache_dir, "builtin_classifier_%d_%d_%s" % (len(data), data.images.shape[1], digest),
                        "weights")
    model = _classifier(20)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    held_out = max(1, len(data) // 10)
    if os.path.exists(path + ".index"):
        model(data.images[:1])
        model.load_weights(path).expect_partial()  # weights only; the optimizer state is not kept
    else:
        tf.random.set_seed(seed)
        train = tf.data.Dataset.from_tensor_slices((data.images[:-held_out], groups[:-held_out]))
        train = train.shuffle(len(data), seed=seed).repeat().batch(64)
        model.fit(train, steps_per_epoch=_TRAINING_STEPS, epochs=1, verbose=0)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        model.save_weights(path)
    accuracy = float(model.evaluate(data.images[-held_out:], groups[-held_out:], verbose=0)[1])
    return model, accuracy


class QualityProbe:
    """Measures class and sub-class accuracy of a generator trained on the built-in dataset.

    Args:
      data: the built-in dataset (labels = colours, subclasses = blob/stripe).
      class_state: returns (current class of every example int [N], parent of every class int [C]).
      cache_dir: classifier cache.
    """

    def __init__(self, data: ImageData, class_state: Callable[[], Tuple[np.ndarray, np.ndarray]], cache_dir: str):
        self.data, self.class_state = data, class_state
        self.classifier, self.classifier_accuracy = group_classifier(data, cache_dir)

    def measure(self, source, seed: int = 0) -> Dict[str, float]:
        example_labels, parents = self.class_state()
        num_classes = source.num_classes()
        images = sampling.per_class_samples(source, SAMPLES_PER_CLASS, seed)
        predicted = np.argmax(self.classifier.predict(images, batch_size=500, verbose=0), axis=1)
        colour, kind = (predicted // 2).reshape(num_classes, -1), (predicted % 2).reshape(num_classes, -1)
        split = set(np.flatnonzero(parents >= 0)) | set(parents[parents >= 0].tolist())
        class_hits, sub_hits = [], []
        for c in range(num_classes):
            members = example_labels == c
            if not members.any():
                continue  # a k-means cluster that got no images: no intended colour
            class_hits.append(colour[c] == np.bincount(self.data.labels[members]).argmax())
            if c in split:
                sub_hits.append(kind[c] == np.bincount(self.data.subclasses[members], minlength=2).argmax())
        results = {PREFIX + "class_accuracy": float(np.mean(class_hits)),
                   PREFIX + "classifier_accuracy": self.classifier_accuracy}
        if sub_hits:
            results[PREFIX + "subclass_accuracy"] = float(np.mean(sub_hits))
        return results


def describe(results: Dict[str, float]) -> str:
    text = "built-in quality: samples show their class's colour %.1f%% of the time" % (
        100 * results[PREFIX + "class_accuracy"])
    if PREFIX + "subclass_accuracy" in results:
        text += ", and split classes their sub-class %.1f%% (chance 50%%)" % (100 * results[PREFIX + "subclass_accuracy"])
    return text + " (classifier accuracy on real images %.1f%%)" % (100 * results[PREFIX + "classifier_accuracy"])


def probe_for_run(cfg, class_state: Callable[[], Tuple[np.ndarray, np.ndarray]],
                  cache_dir: Optional[str] = None) -> QualityProbe:
    """The probe of a run on the built-in dataset (config.Config `cfg`). Its data are made again
    from the config: the probe needs the colours and sub-classes, and an unsupervised run's
    training view has dropped the colours."""
    data = builtin_data.make(cfg.data.builtin_size, cfg.model.image_size, cfg.data.builtin_seed)
    return QualityProbe(data, class_state, cache_dir or registry.default_cache_dir())
