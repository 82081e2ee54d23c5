"""The ResNet generator and critic of Class-Splitting GAN as subclassed Keras models.

Both follow the original TF1 code (NCHW there, NHWC here). Every per-class table has
MAX_CLASSES rows from the start, so a class split only assigns rows and never changes a shape.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from splitgan_keras.models import layers
from splitgan_keras.models.class_state import ClassState

MAX_CLASSES = 512
NOISE_DIM = 128
CRITIC_BLOCKS = 4  # the critic's residual blocks; the features its heads read come after the last


class Generator(tf.keras.Model):
    """G(z, y): noise and class label to an image in [-1, 1].

    Linear(128 -> s*s*width) reshaped channel-major to [width, s, s] (s = image_size / 8), three
    residual up-blocks with hierarchical conditional batch norm, BN, ReLU, Conv3x3 -> 3, tanh.

    `class_state` (models/class_state.py: tree, active classes, parents) is a layer of this model,
    so checkpoints and exports carry it; pass one to share it (a moving average of the weights).
    """

    def __init__(self, width: int = 128, image_size: int = 32, initial_classes: int = 10,
                 max_classes: int = MAX_CLASSES, class_state: Optional[ClassState] = None, **kwargs):
        kwargs.setdefault("name", "generator")
        super().__init__(**kwargs)
        if image_size % 8:
            raise ValueError("image_size must be a multiple of 8, got %d" % image_size)
        self.width, self.image_size = width, image_size
        self.initial_classes, self.max_classes = initial_classes, max_classes
        self.start_size = image_size // 8
        self.class_state = class_state or ClassState(initial_classes, max_classes)
        self.input_linear = tf.keras.layers.Dense(self.start_size ** 2 * width,
                                                  kernel_initializer=layers.glorot_uniform(), name="input")
        self.blocks = [layers.UpBlock(width, max_classes, initial_classes, name="up%d" % (i + 1))
                       for i in range(3)]
        self.output_norm = layers.BatchNorm(name="output_norm")
        self.output_conv = layers.conv(3, 3, layers.glorot_uniform(), "output_conv")

    def build_variables(self) -> "Generator":
        """Creates every variable now (one call on a tiny batch) unless they exist; returns self."""
        if not self.built:
            self(tf.zeros([1, NOISE_DIM]), tf.zeros([1], tf.int32))
        return self

    def call(self, z, labels, training=None, bn_groups: int = 1):
        """Generates images.

        Args:
          z: float32 [N, 128] noise.
          labels: int [N] classes in [0, active classes).
          training: ignored; batch statistics are always used, as in the original.
          bn_groups: the batch runs as this many groups of N / bn_groups consecutive samples, each
            with its own batch-norm statistics.

        Returns:
          float32 [N, image_size, image_size, 3] in [-1, 1].
        """
        class_paths = self.class_state.slot_rows(labels)
        h = self.input_linear(z)
        h = tf.reshape(h, [-1, self.width, self.start_size, self.start_size])
        h = tf.transpose(h, [0, 2, 3, 1])
        for block in self.blocks:
            h = block(h, class_paths, bn_groups)
        h = tf.nn.relu(self.output_norm(h, bn_groups))
        return tf.cast(tf.tanh(self.output_conv(h)), tf.float32)

    def get_config(self):
        return {"width": self.width, "image_size": self.image_size,
                "initial_classes": self.initial_classes, "max_classes": self.max_classes}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Keras 2.6's Model.from_config rebuilds a functional model from "layers"; this one is subclassed.
        return cls(**config)


class Critic(tf.keras.Model):
    """D(x): the WGAN critic with an auxiliary 512-way class head; no normalisation.

    Optimised first block (to image_size/2), a down block (to image_size/4), two plain blocks,
    ReLU, global mean -> features; linear heads on the features give the score and class logits.
    """

    def __init__(self, width: int = 128, max_classes: int = MAX_CLASSES, **kwargs):
        kwargs.setdefault("name", "critic")
        super().__init__(**kwargs)
        self.width, self.max_classes = width, max_classes
        self.blocks = [layers.OptimizedDownBlock(width, name="block1"),
                       layers.CriticBlock(width, downsample=True, name="block2"),
                       layers.CriticBlock(width, downsample=False, name="block3"),
                       layers.CriticBlock(width, downsample=False, name="block4")]
        # float32 heads: the gradient penalty differentiates the score twice; fp16 would underflow.
        self.score_head = tf.keras.layers.Dense(1, kernel_initializer=layers.glorot_uniform(),
                                                dtype="float32", name="score")
        self.class_head = tf.keras.layers.Dense(max_classes, kernel_initializer=layers.glorot_uniform(),
                                                dtype="float32", name="class_logits")

    def build_variables(self, image_size: int = 32) -> "Critic":
        """Creates every variable now unless they exist; returns self. No variable depends on the
        image size (any multiple of 4 builds the same ones)."""
        if not self.built:
            self(tf.zeros([1, image_size, image_size, 3]))
        return self

    def call(self, images, training=None):
        """Scores images.

        Args:
          images: float [N, H, W, 3] in [-1, 1].
          training: ignored (the critic has no train/test difference).

        Returns:
          dict of float32 `score` [N], `class_logits` [N, max_classes], `features` [N, width].
        """
        features = self.block_features(images, CRITIC_BLOCKS)
        return {"score": tf.squeeze(self.score_head(features), -1),
                "class_logits": self.class_head(features),
                "features": tf.cast(features, tf.float32)}

    def block_features(self, images, blocks: int):
        """The output of the first `blocks` blocks, ReLU, mean over positions: float [N, width]; with every block
        (CRITIC_BLOCKS), the features the heads read (call's `features`)."""
        h = images
        for block in self.blocks[:blocks]:
            h = block(h)
        return tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])

    def get_config(self):
        return {"width": self.width, "max_classes": self.max_classes}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)  # see Generator.from_config
