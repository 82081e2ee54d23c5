"""Pictures for people: image grids with a title and a label per row, as uint8 arrays.

Text is drawn with Pillow's built-in default font, so no font file is needed.
"""
from __future__ import annotations

import io
import os
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from splitgan_keras import files
from splitgan_keras.artefacts import sampling
from splitgan_keras.data.image_data import Appearance
from splitgan_keras.models import hierarchy

_PAD = 4                     # pixels around text


def tile(images: np.ndarray, columns: int, border: int = 1) -> np.ndarray:
    """Tiles uint8 [N, H, W, 3] row-major into uint8 [rows*(H+b)+b, columns*(W+b)+b, 3], b = border."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + border) + border, columns * (w + border) + border, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = border + r * (h + border), border + col * (w + border)
        out[y:y + h, x:x + w] = image
    return out


def labelled_rows(rows: Sequence[np.ndarray], labels: Sequence[str], title: str = "") -> np.ndarray:
    """One row of images per label, the label on its left, the title above.

    Args:
      rows: each uint8 [k, H, W, 3] (k may differ; short rows stay blank).
      labels: one text per row.
      title: a line above the grid.

    Returns:
      uint8 [height, width, 3].
    """
    columns = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]
    padded = [np.concatenate([r, np.full((columns - len(r), h, w, 3), 255, np.uint8)]) for r in rows]
    body = tile(np.concatenate(padded), columns)
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = font.getbbox("Ag")[3]
    row_height = h + 1
    scale = max(1, -(-line // h))  # tiny images are enlarged, so that a label fits beside its row
    if scale > 1:
        body = np.kron(body, np.ones((scale, scale, 1), np.uint8))
    margin = 2 * _PAD + int(max(measure.textlength(label, font=font) for label in labels))
    top = line + 2 * _PAD if title else 0
    canvas = Image.new("RGB", (max(margin + body.shape[1], 2 * _PAD + int(measure.textlength(title, font=font))),
                               top + body.shape[0]), "white")
    canvas.paste(Image.fromarray(body), (margin, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((_PAD, _PAD), title, fill="black", font=font)
    for i, label in enumerate(labels):
        y = top + scale * (1 + i * row_height) + (scale * h - line) // 2
        draw.text((_PAD, y), label, fill="black", font=font)
    return np.asarray(canvas)


def class_grid(source, per_class: int, seed: int, labels: Optional[Sequence[str]] = None,
               title: str = "") -> np.ndarray:
    """uint8 [h, w, 3]: one row of `per_class` samples per class (sampling.per_class_samples),
    labelled with `labels` (default: the class numbers)."""
    samples = sampling.per_class_samples(source, per_class, seed)
    rows = np.split(samples, source.num_active())
    return labelled_rows(rows, labels or [str(c) for c in range(len(rows))], title)


def write_png(path: str, image: np.ndarray) -> None:
    """Writes uint8 [H, W, 3] as a PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    files.write_bytes(path, buffer.getvalue())


def write_sample_folder(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes uint8 images [N, H, W, 3] as PNG files class<label>_<i>.png (i counting within the
    class) into the folder `path`, which is replaced whole once every file is written."""
    with files.staged_directory(path) as staging:
        counts = {}
        for image, label in zip(images, labels):
            index = counts[int(label)] = counts.get(int(label), -1) + 1
            Image.fromarray(image).save(os.path.join(staging, "class%d_%05d.png" % (label, index)), format="PNG")


class ClassNames:
    """Row labels for the classes of a run (class_labels), where the data set knows what its images show: the
    sub-class (the kind) of the classes made by splits, or, in an unsupervised run, every class's most common
    colour and kind with their share.

    Args:
      appearance: the training set's data.image_data.Appearance, or None.
    """

    def __init__(self, appearance: Optional[Appearance] = None):
        self.appearance = appearance

    def __call__(self, example_labels: np.ndarray, parents: np.ndarray) -> List[str]:
        """Labels of classes 0..len(parents)-1, given every training image's class int [N]."""
        if self.appearance is None:
            return class_labels(parents)
        if not self.appearance.labels_carry_colour:  # unsupervised: what each class mostly holds, and how much
            return class_labels(parents, self._contents(example_labels, len(parents)))
        kinds = np.where(hierarchy.made_by_splits(parents),
                         hierarchy.majority_per_class(self.appearance.kind, example_labels, len(parents)), -1)
        return class_labels(parents, [self.appearance.kind_names[k] if k >= 0 else "" for k in kinds])

    def _contents(self, example_labels: np.ndarray, num_classes: int) -> List[str]:
        """"red stripes 84%" per class: its real images' most common colour and kind, and their share."""
        shown = self.appearance
        groups = shown.groups()
        majority = hierarchy.majority_per_class(groups, example_labels, num_classes)
        names = []
        for c, group in enumerate(majority):
            if group < 0:
                names.append("empty")
                continue
            colour, kind = divmod(int(group), len(shown.kind_names))
            share = np.mean(groups[example_labels == c] == group)
            colour_name = shown.colour_names[colour] if shown.colour_names else "colour %d" % colour
            names.append("%s %s %d%%" % (colour_name, shown.kind_names[kind], round(100 * share)))
        return names


def class_labels(parents: np.ndarray, kind_names: Optional[Sequence[str]] = None) -> List[str]:
    """A row label per class: "12 <- 2 stripes" is class 12, split off class 2, whose real images are
    mostly stripes.

    Args:
      parents: int [C], the parent of every class, -1 for an initial class.
      kind_names: str [C] or None: what the real images of every class made by a split mostly show
        (data.image_data.Appearance; in an unsupervised run of every class), "" for the others.
    """
    labels = []
    for c, parent in enumerate(parents):
        text = "%d" % c + (" <- %d" % parent if parent >= 0 else "")
        if kind_names is not None and kind_names[c]:
            text += " " + kind_names[c]
        labels.append(text)
    return labels
