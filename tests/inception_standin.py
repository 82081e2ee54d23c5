"""A stand-in for tfgan's Inception TF-Hub module: a small fixed network with the same interface.

Called as module(images) with float32 [N, 299, 299, 3] in [-1, 1], it returns a dict with
`logits` [N, 1008] and `pool_3` [N, 1, 1, 2048] (unflattened, as tfgan's loader allows). Its
outputs depend on the images' colours and textures, so metrics differ between image sets.
"""
import numpy as np
import tensorflow as tf


class StandInInception(tf.Module):
    def __init__(self, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kernel = tf.Variable(rng.normal(0, 0.5, (5, 5, 3, 16)).astype(np.float32))
        self.pool_weights = tf.Variable(rng.normal(0, 0.3, (16 * 4, 2048)).astype(np.float32))
        self.logit_weights = tf.Variable(rng.normal(0, 0.05, (2048, 1008)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec(shape=None, dtype=tf.float32)])
    def __call__(self, images):
        h = tf.nn.relu(tf.nn.conv2d(images, self.kernel, 4, "VALID"))
        moments = tf.concat([tf.reduce_mean(h, [1, 2]), tf.math.reduce_std(h, [1, 2]),
                             tf.reduce_max(h, [1, 2]), tf.reduce_mean(images, [1, 2, 3])[:, None] * tf.ones([1, 16])], 1)
        pool = tf.nn.relu(tf.matmul(moments, self.pool_weights))
        return {"logits": tf.matmul(pool, self.logit_weights), "pool_3": tf.reshape(pool, [-1, 1, 1, 2048])}


def build(path, seed=0):
    tf.saved_model.save(StandInInception(seed), str(path))
    return str(path)
