"""Golden vectors from the original TF1 code: discovery, loading and the model they describe.

Sets live in tests/golden/<name>/ (copied from ../shared/golden); more can be named in the
environment variable SPLITGAN_GOLDEN_DIRS (os.pathsep-separated folders). Each set describes
its own width, batch size and seed in variables.json, so any set runs through the same tests.
"""
import glob
import json
import os

import numpy as np
import tensorflow as tf

from splitgan_keras import config
from splitgan_keras.artefacts import tf1_import
from splitgan_keras.models import gan as gan_lib, networks, optimizers

HERE = os.path.dirname(os.path.abspath(__file__))


def golden_dirs():
    dirs = sorted(glob.glob(os.path.join(HERE, "golden", "*", "variables.json")))
    dirs = [os.path.dirname(d) for d in dirs]
    extra = os.environ.get("SPLITGAN_GOLDEN_DIRS", "")
    dirs += [d for d in extra.split(os.pathsep) if d]
    return dirs


def nhwc(flat, size=32):
    """Flat channel-major [N, 3*size*size] rows (CIFAR layout) -> NHWC [N, size, size, 3]."""
    return np.asarray(flat).reshape(-1, 3, size, size).transpose(0, 2, 3, 1)


class GoldenSet:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path.rstrip("/"))
        with open(os.path.join(path, "variables.json")) as f:
            self.variables = json.load(f)
        settings = self.variables["settings"]
        self.width = settings["DIM_G"]
        self.batch_size = settings["BATCH_SIZE"]
        self.num_classes = settings["initial_n_classes"]
        self.train_cfg = config.TrainConfig(
            batch_size=self.batch_size, gen_batch_multiple=settings["GEN_BS_MULTIPLE"], bn_groups=2,
            iterations=settings["ITERS"], learning_rate=settings["LR"], adam_beta1=settings["adam_beta1"],
            adam_beta2=settings["adam_beta2"], adam_epsilon=settings["adam_epsilon"],
            gp_weight=settings["gp_weight"], acgan_scale=settings["ACGAN_SCALE"],
            acgan_scale_g=settings["ACGAN_SCALE_G"])
        self.inputs = self._npz("inputs.npz")
        self.forward = self._npz("forward.npz")
        self.grads = self._npz("grads.npz")
        self.after = self._npz("after_step.npz")
        self.checkpoint = os.path.join(path, "init.ckpt")
        self.seed = settings["seed"]

    def _npz(self, name):
        with np.load(os.path.join(self.path, name)) as data:
            return dict(data)

    def roundoff_names(self):
        """Parameters whose true gradient is zero and whose stored one is float32 round-off."""
        return {v["name"] for v in self.variables["variables"] if "batch norm" in v.get("note", "")}

    def build(self, labels=None):
        """A SplitGAN in the golden set's initial state, at the golden iteration."""
        cfg = self.train_cfg
        generator = networks.Generator(width=self.width, initial_classes=self.num_classes)
        critic = networks.Critic(width=self.width)
        labels = np.zeros([self.batch_size], np.int32) if labels is None else labels
        gan = gan_lib.SplitGAN(generator, critic, labels, cfg)
        make = lambda: optimizers.adam(gan.learning_rate, cfg.adam_beta1, cfg.adam_beta2, cfg.adam_epsilon)
        gan.compile(make(), make())
        tf1_import.load_tf1_checkpoint(self.checkpoint, generator, critic, gan.g_optimizer, gan.d_optimizer)
        gan.iteration.assign(int(self.inputs["iteration"]))
        return gan

    def build_presplit(self):
        """A SplitGAN in the state before the golden split: the critic after one critic step and the
        generator after one generator step (with their optimizers), initial tree and class count."""
        split_inputs = self._npz(os.path.join("split", "inputs.npz"))
        gan = self.build(labels=split_inputs["labels_before"])
        reader = tf.train.load_checkpoint(self.checkpoint)
        values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
        for key, value in self.after.items():
            values[key.split("/", 1)[1]] = value
        tf1_import.restore_tf1_values(values, gan.generator, gan.critic, gan.g_optimizer, gan.d_optimizer)
        return gan, split_inputs, self._npz(os.path.join("split", "split.npz"))

    # The golden inputs as the Keras step functions take them.
    def x_real(self):
        i = self.inputs
        return gan_lib.scale_real(tf.constant(nhwc(i["real_images"]).astype(np.uint8)),
                                  tf.constant(nhwc(i["dequant_noise"])))

    def critic_inputs(self):
        i = self.inputs
        z = np.concatenate([i["critic_noise_half0"], i["critic_noise_half1"]])
        return (self.x_real(), tf.constant(i["real_labels"]), tf.constant(z),
                tf.constant(i["gp_alpha"].reshape(-1, 1, 1, 1)))

    def generator_inputs(self):
        i = self.inputs
        z = np.concatenate([i["gen_noise_half0"], i["gen_noise_half1"]])
        y = np.concatenate([i["gen_fake_labels_half0"], i["gen_fake_labels_half1"]])
        return tf.constant(z), tf.constant(y)
