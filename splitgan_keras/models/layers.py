"""Layers of the ResNet generator and critic, as the original builds them (NHWC here).

Batch norm always normalises with the statistics of the current call (the original never uses
moving averages, also not when sampling), split into `groups` of consecutive samples: the
original runs every generator batch as two separate calls (a two-device hack), each with its own
statistics. Both norms compute in float32 whatever the mixed-precision policy.
"""
from __future__ import annotations

import tensorflow as tf

BN_EPSILON = 1e-5


def he_uniform():
    """Uniform with std sqrt(4 / (fan_in + fan_out)), fan = channels * k * k (tflib's he_init)."""
    return tf.keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform")


def glorot_uniform():
    """Uniform with std sqrt(2 / (fan_in + fan_out)): shortcuts, output conv and linear layers."""
    return tf.keras.initializers.GlorotUniform()


def conv(filters: int, kernel_size: int, init, name: str) -> tf.keras.layers.Conv2D:
    return tf.keras.layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=init, name=name)


class LeadingRowsOnes(tf.keras.initializers.Initializer):
    """Rows [0, n) are one, the others zero: the CBN scale tables, whose active rows start at 1."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, shape, dtype=None, **kwargs):
        rows = tf.range(shape[0])[:, None] < self.n
        return tf.cast(tf.broadcast_to(rows, shape), dtype or tf.float32)

    def get_config(self):
        return {"n": self.n}


def _batch_normalize(x, gamma, beta, groups: int):
    """Normalises x with per-group batch statistics (biased variance over N, H, W).

    Args:
      x: float32 [N, H, W, C], N a multiple of `groups`.
      gamma, beta: float32 [N, C] (per sample) or [C].
      groups: number of groups of N / groups consecutive samples with their own statistics.

    Returns:
      float32 [N, H, W, C].
    """
    _, h, w, c = x.shape
    grouped = tf.reshape(x, [groups, -1, h, w, c])
    mean, variance = tf.nn.moments(grouped, axes=[1, 2, 3], keepdims=True)
    if gamma.shape.rank == 2:
        gamma = tf.reshape(gamma, [groups, -1, 1, 1, c])
        beta = tf.reshape(beta, [groups, -1, 1, 1, c])
    out = tf.nn.batch_normalization(grouped, mean, variance, beta, gamma, BN_EPSILON)
    return tf.reshape(out, tf.shape(x))


class BatchNorm(tf.keras.layers.Layer):
    """Unconditional batch norm with batch statistics (the generator's last norm)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def build(self, input_shape):
        c = input_shape[-1]
        self.scale = self.add_weight("scale", [c], initializer="ones")
        self.offset = self.add_weight("offset", [c], initializer="zeros")

    def call(self, x, groups: int = 1):
        return _batch_normalize(x, self.scale, self.offset, groups)


class ConditionalBatchNorm(tf.keras.layers.Layer):
    """Hierarchical conditional batch norm (the original's BatchnormB).

    Each class is a 0/1 row of the class tree that selects parameter slots; the sample's gamma and
    beta are that row times the `scale` and `offset` tables [max_classes, C]. A split gives the new
    classes fresh slots whose rows are still zero, so parent and child start out identical.
    """

    def __init__(self, max_classes: int, initial_classes: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.max_classes = max_classes
        self.initial_classes = initial_classes

    def build(self, input_shape):
        c = input_shape[-1]
        self.scale = self.add_weight("scale", [self.max_classes, c],
                                     initializer=LeadingRowsOnes(self.initial_classes))
        self.offset = self.add_weight("offset", [self.max_classes, c], initializer="zeros")

    def call(self, x, class_paths, groups: int = 1):
        """x: [N, H, W, C]; class_paths: float32 [N, max_classes] tree rows of the labels."""
        gamma = tf.matmul(class_paths, self.scale)
        beta = tf.matmul(class_paths, self.offset)
        return _batch_normalize(x, gamma, beta, groups)

    def get_config(self):
        config = super().get_config()
        config.update(max_classes=self.max_classes, initial_classes=self.initial_classes)
        return config


def upsample(x):
    """Nearest-neighbour 2x, as the original computes it: channels tiled 4x, then depth_to_space.

    Unlike resize_nearest, its gradient compiles under XLA, and both ops run on the Ascend NPU.
    """
    return tf.nn.depth_to_space(tf.tile(x, [1, 1, 1, 4]), 2)


def mean_pool(x):
    """2x2 mean pooling (the original averages the four strided sub-grids)."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


class UpBlock(tf.keras.layers.Layer):
    """Generator block: upsample+Conv1x1 shortcut; CBN-ReLU-upsample-Conv3x3-CBN-ReLU-Conv3x3."""

    def __init__(self, width: int, max_classes: int, initial_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.shortcut = conv(width, 1, glorot_uniform(), "shortcut")
        self.norm1 = ConditionalBatchNorm(max_classes, initial_classes, name="norm1")
        self.conv1 = conv(width, 3, he_uniform(), "conv1")
        self.norm2 = ConditionalBatchNorm(max_classes, initial_classes, name="norm2")
        self.conv2 = conv(width, 3, he_uniform(), "conv2")

    def call(self, x, class_paths, groups: int = 1):
        # A 1x1 convolution commutes with nearest upsampling (every output pixel is the same dot
        # product), so it runs on the small image: the original's result with 4x fewer FLOPs.
        shortcut = upsample(self.shortcut(x))
        h = tf.nn.relu(self.norm1(x, class_paths, groups))
        h = self.conv1(upsample(h))
        h = tf.nn.relu(self.norm2(h, class_paths, groups))
        return shortcut + self.conv2(h)


class OptimizedDownBlock(tf.keras.layers.Layer):
    """First critic block: [Conv3x3-ReLU-Conv3x3-meanpool] + [meanpool-Conv1x1]."""

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.shortcut = conv(width, 1, glorot_uniform(), "shortcut")
        self.conv1 = conv(width, 3, he_uniform(), "conv1")
        self.conv2 = conv(width, 3, he_uniform(), "conv2")

    def call(self, x):
        h = mean_pool(self.conv2(tf.nn.relu(self.conv1(x))))
        return self.shortcut(mean_pool(x)) + h


class CriticBlock(tf.keras.layers.Layer):
    """Critic block: ReLU-Conv3x3-ReLU-Conv3x3, plus a shortcut.

    With `downsample`, both paths end in 2x2 mean pooling and the shortcut is a Conv1x1;
    otherwise the shortcut is the identity.
    """

    def __init__(self, width: int, downsample: bool, **kwargs):
        super().__init__(**kwargs)
        self.downsample = downsample
        self.shortcut = conv(width, 1, glorot_uniform(), "shortcut") if downsample else None
        self.conv1 = conv(width, 3, he_uniform(), "conv1")
        self.conv2 = conv(width, 3, he_uniform(), "conv2")

    def call(self, x):
        h = self.conv2(tf.nn.relu(self.conv1(tf.nn.relu(x))))
        if self.downsample:
            return mean_pool(self.shortcut(x)) + mean_pool(h)
        return x + h
