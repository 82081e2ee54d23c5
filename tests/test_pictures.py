"""Labelled image grids: every image where it belongs, a label beside every row, the title above."""
import logging

import numpy as np
import tensorflow as tf

from splitgan_keras.artefacts import pictures, sampling
from splitgan_keras.data import builtin_data, image_data
from splitgan_keras.models import networks


def _rows():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 200, (3, 16, 16, 3), dtype=np.uint8), rng.integers(0, 200, (2, 16, 16, 3), dtype=np.uint8)]


def test_labelled_rows_keep_every_image_and_write_every_label():
    rows = _rows()
    picture = pictures.labelled_rows(rows, ["0", "12 <- 2 stripes"], "iteration 40")
    tiled = pictures.tile(np.concatenate([rows[0], rows[1], np.full((1, 16, 16, 3), 255, np.uint8)]), 3)
    h, w = tiled.shape[:2]
    top, left = picture.shape[0] - h, picture.shape[1] - w
    np.testing.assert_array_equal(picture[top:, left:], tiled)
    assert top > 0 and left > 0
    margin = picture[top:, :left]
    for r in range(2):  # dark text pixels beside each row
        assert (margin[1 + r * 17:(r + 1) * 17] < 128).any(), r
    assert (picture[:top] < 128).any()  # the title
    wider = pictures.labelled_rows(rows, ["0", "12 <- 2 stripes, a longer label"])
    assert wider.shape[1] > picture.shape[1] and wider.shape[0] == h


def test_tiny_images_are_enlarged_to_fit_their_labels():
    rows = [np.zeros((2, 4, 4, 3), np.uint8)]
    picture = pictures.labelled_rows(rows, ["7"])
    assert picture.shape[0] > 4 * 1 + 2


def test_class_labels_name_parents_and_kinds():
    parents = np.array([-1, -1, 0, 1])
    assert pictures.class_labels(parents) == ["0", "1", "2 <- 0", "3 <- 1"]
    example_labels = np.array([0, 0, 2, 2, 2, 1, 3])
    kinds = np.array([0, 0, 1, 1, 0, 1, 0])
    appearance = image_data.Appearance(np.zeros_like(kinds), kinds, builtin_data.KINDS)
    assert pictures.ClassNames(appearance)(example_labels, parents) == ["0 blob", "1 stripes", "2 <- 0 stripes",
                                                                  "3 <- 1 blob"]


def test_class_labels_of_an_unsupervised_run_say_what_each_class_mostly_holds():
    parents = np.array([-1, 0, 0])
    example_labels = np.array([0, 0, 0, 0, 1, 1, 1])
    colour, kind = np.array([2, 2, 2, 5, 0, 0, 0]), np.array([1, 1, 1, 1, 0, 0, 0])
    appearance = image_data.unsupervised(image_data.ImageData(
        np.zeros((7, 8, 8, 3), np.uint8), colour, 10, "seven", kind,
        image_data.Appearance(colour, kind, builtin_data.KINDS, colour_names=builtin_data.COLOURS))).appearance
    assert pictures.ClassNames(appearance)(example_labels, parents) == ["0 lime stripes 75%", "1 <- 0 red blob 100%",
                                                                  "2 <- 0 empty"]


def test_drawing_for_many_class_counts_does_not_warn_of_retracing():
    # An unsupervised run draws its grids for 2, 4, ..., 32 classes: a batch shape each, traced once on purpose.
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    tf.get_logger().addHandler(handler)
    try:
        source = sampling.GeneratorSource(networks.Generator(width=8, image_size=16, initial_classes=1)
                                          .build_variables())
        for batch in range(1, 9):
            source.generate(np.zeros((batch, networks.NOISE_DIM), np.float32), np.zeros(batch, np.int32))
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [r for r in records if "retracing" in r.getMessage()]
