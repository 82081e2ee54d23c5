"""Import of TF1 checkpoints: names, class state, and refusals that leave the model unchanged."""
import numpy as np
import pytest
import tensorflow as tf

from golden_sets import GoldenSet, golden_dirs, nhwc
from splitgan_keras.artefacts import tf1_import
from splitgan_keras.errors import UserError
from splitgan_keras.models import networks, optimizers
from splitgan_keras.models.class_state import initial_tree


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
    state = generator.class_state
    state.assign(np.zeros_like(state.tree()), [-1] * golden.num_classes)
    assert tf1_import.load_tf1_checkpoint(golden.checkpoint, generator, critic) == golden.num_classes
    np.testing.assert_array_equal(state.tree(), initial_tree(golden.num_classes, state.max_classes))
    assert state.num_active() == golden.num_classes
    assert state.parents().tolist() == [-1] * golden.num_classes


def test_fresh_unbuilt_models_and_optimizers_are_built_and_filled(golden):
    generator = networks.Generator(width=golden.width, initial_classes=golden.num_classes)
    critic = networks.Critic(width=golden.width)
    g_opt, d_opt = (optimizers.adam(1e-4, 0.0, 0.9, 1e-8) for _ in range(2))
    assert not generator.built and not critic.built
    tf1_import.load_tf1_checkpoint(golden.checkpoint, generator=generator, critic=critic, g_optimizer=g_opt,
                                   d_optimizer=d_opt)
    reader = tf.train.load_checkpoint(golden.checkpoint)
    for entries, opt in ((tf1_import.generator_entries(generator), g_opt), (tf1_import.critic_entries(critic), d_opt)):
        for name, variable, layout in entries:
            np.testing.assert_array_equal(variable.numpy(), layout(reader.get_tensor(name)), err_msg=name)
            np.testing.assert_array_equal(optimizers.slot(opt, variable, "v").numpy(),
                                          layout(reader.get_tensor(name + "/Adam_1")), err_msg=name)
    x = generator(tf.constant(golden.inputs["fixed_noise"]), tf.constant(golden.inputs["fixed_labels"]))
    np.testing.assert_allclose(x.numpy(), nhwc(golden.forward["gen_standalone"]), atol=2e-5, rtol=0)
    alone = networks.Critic(width=golden.width)  # the critic alone builds too
    tf1_import.load_tf1_checkpoint(golden.checkpoint, critic=alone)
    np.testing.assert_array_equal(alone(x)["score"].numpy(), critic(x)["score"].numpy())


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
