import tensorflow as tf


def gelu(x):
    return tf.nn.gelu(x)
