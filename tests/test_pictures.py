"""Labelled image grids: every image where it belongs, a label beside every row, the title above."""
import numpy as np

from splitgan_keras.artefacts import pictures
from splitgan_keras.data import builtin_data, image_data


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
