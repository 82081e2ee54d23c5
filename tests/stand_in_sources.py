"""Stand-in generators for metrics with a known answer: sample sources that return real images."""
import numpy as np

from splitgan_keras.artefacts import sampling


class ImagesSource(sampling.SampleSource):
    """A 'generator' that returns given images, cycling (for metrics with a known answer)."""

    def __init__(self, images, classes=10):
        self.images, self.image_size, self._classes, self._next = images, images.shape[1], classes, 0

    def num_active(self):
        return self._classes

    def generate(self, noise, labels):
        idx = (self._next + np.arange(len(labels))) % len(self.images)
        self._next += len(labels)
        return self.images[idx]


class Members(ImagesSource):
    """A 'generator' whose samples of class c are real images of class c (from its first 40, shifted by `offset`)."""

    def __init__(self, images, example_labels, num_classes, offset=0):
        super().__init__(images, num_classes)
        self.example_labels, self.offset = example_labels, offset

    def generate(self, noise, labels):
        picks = [np.flatnonzero(self.example_labels == c)[(i + self.offset) % 40] for i, c in enumerate(labels)]
        return self.images[picks]


def split_along_kinds(data):
    """As if every class had split along its sub-classes: class c keeps colour c's blobs, 10 + c its stripes."""
    return np.where(data.subclasses == 0, data.labels, data.labels + 10), np.array([-1] * 10 + list(range(10)))
