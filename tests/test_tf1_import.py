"""Import of TF1 checkpoints: names, class state, and refusals that leave the model unchanged."""
import numpy as np
import pytest
import tensorflow as tf

from golden_sets import GoldenSet, golden_dirs
from splitgan_keras import networks, tf1_import
from splitgan_keras.errors import UserError


@pytest.fixture(scope="module")
def golden():
    return GoldenSet(golden_dirs()[0])


def _built(width):
    generator = networks.Generator(width=width)
    critic = networks.Critic(width=width)
    generator(tf.zeros([2, 128]), tf.zeros([2], tf.int32))
    critic(tf.zeros([1, 32, 32, 3]))
    return generator, critic


def test_every_checkpoint_parameter_is_imported(golden):
    generator, critic = _built(golden.width)
    names = {n for n, _, _ in tf1_import.generator_entries(generator) + tf1_import.critic_entries(critic)}
    parameters = {v["name"] for v in golden.variables["variables"] if v["role"] == "parameter"}
    assert names == parameters
    assert len(tf1_import.generator_entries(generator)) == len(generator.trainable_variables)
    assert len(tf1_import.critic_entries(critic)) == len(critic.trainable_variables)


def test_class_state_is_imported(golden):
    generator, critic = _built(golden.width)
    generator.class_tree.assign(tf.zeros_like(generator.class_tree))
    assert tf1_import.load_tf1_checkpoint(golden.checkpoint, generator, critic) == golden.num_classes
    np.testing.assert_array_equal(generator.class_tree.numpy(), networks.initial_tree(golden.num_classes))
    assert int(generator.num_classes) == golden.num_classes


def test_width_mismatch_is_refused_and_nothing_changes(golden):
    generator, critic = _built(golden.width * 2)
    before = [v.numpy().copy() for v in generator.variables + critic.variables]
    with pytest.raises(UserError, match=r"has shape \[512, 128\], the model expects \[1024, 128\]"):
        tf1_import.load_tf1_checkpoint(golden.checkpoint, generator, critic)
    for value, variable in zip(before, generator.variables + critic.variables):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_a_checkpoint_that_is_not_the_original(tmp_path):
    prefix = tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(tmp_path / "other"))
    generator, critic = _built(8)
    with pytest.raises(UserError, match="has no variable 'Variable_1': not a checkpoint of the original"):
        tf1_import.load_tf1_checkpoint(prefix, generator, critic)
    with pytest.raises(UserError, match="cannot read TF1 checkpoint"):
        tf1_import.load_tf1_checkpoint(str(tmp_path / "missing"), generator, critic)


def test_iteration_from_saver_names():
    assert tf1_import.iteration_from_name("logs/model_best-12000") == 12000
    assert tf1_import.iteration_from_name("logs/init.ckpt") is None
