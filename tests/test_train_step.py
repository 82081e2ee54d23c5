"""The training iteration on a tiny model: variable ownership, step order, determinism."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from splitgan_keras import compat, config
from splitgan_keras.data import pipeline
from splitgan_keras.models import gan as gan_lib, networks, optimizers

TRAIN = config.TrainConfig(batch_size=4, n_critic=2, iterations=100, seed=3)
SIZE = 16


def _tiny_gan(train_cfg=TRAIN, num_classes=3):
    tf.random.set_seed(0)
    generator = networks.Generator(width=8, image_size=SIZE, initial_classes=num_classes)
    critic = networks.Critic(width=8)
    labels = np.arange(32) % num_classes
    gan = gan_lib.SplitGAN(generator, critic, labels, train_cfg)
    make = lambda: optimizers.adam(gan.learning_rate, 0.0, 0.9, 1e-8)
    gan.compile(make(), make())
    return gan


def _batches(train_cfg=TRAIN):
    images = np.random.default_rng(0).integers(0, 256, (32, SIZE, SIZE, 3), dtype=np.uint8)
    return pipeline.iteration_inputs(images, train_cfg)


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_every_trainable_variable_belongs_to_exactly_one_network():
    gan = _tiny_gan()
    g = {id(v) for v in gan.generator.trainable_variables}
    d = {id(v) for v in gan.critic.trainable_variables}
    assert g and d and not g & d
    assert {id(v) for v in gan.trainable_variables} == g | d
    class_state = {id(v) for v in gan.generator.class_state.weights} | {id(gan.example_labels)}
    assert len(class_state) == 4 and not class_state & (g | d)


def test_critic_step_leaves_generator_untouched_and_vice_versa():
    gan = _tiny_gan()
    x = tf.random.uniform([4, SIZE, SIZE, 3], -1, 1)
    y = tf.constant([0, 1, 2, 0])
    g_before, d_before = _values(gan.generator.variables), _values(gan.critic.variables)
    gan.critic_step(x, y, tf.random.normal([4, 128]), tf.random.uniform([4, 1, 1, 1]))
    assert not any(_changed(g_before, gan.generator.variables))
    assert any(_changed(d_before, gan.critic.trainable_variables))

    g_before, d_before = _values(gan.generator.variables), _values(gan.critic.variables)
    gan.generator_step(tf.random.normal([8, 128]), tf.constant([0, 1, 2, 0, 1, 2, 0, 1]))
    assert not any(_changed(d_before, gan.critic.variables))
    assert any(_changed(g_before, gan.generator.trainable_variables))


def test_first_iteration_skips_the_generator_step_then_both_train():
    gan = _tiny_gan()
    step = tf.function(gan.train_step)
    iterator = iter(_batches())
    g_before = _values(gan.generator.trainable_variables)
    logs = step(next(iterator))
    assert not any(_changed(g_before, gan.generator.trainable_variables))
    assert int(gan.iteration) == 1
    assert int(optimizers.unwrap(gan.d_optimizer).iterations) == TRAIN.n_critic
    assert int(optimizers.unwrap(gan.g_optimizer).iterations) == 0
    assert not any(np.any(optimizers.slot(gan.g_optimizer, v, name).numpy())  # Adam's moments untouched
                   for v in gan.generator.trainable_variables for name in optimizers.SLOT_NAMES)
    # The generator's loss is logged as it is; its gradient is gated to 0.
    assert float(logs["g/cost"]) != 0.0 and np.isfinite(logs["g/cost"]) and float(logs["g/grad_norm"]) == 0.0
    step(next(iterator))
    assert all(_changed(g_before, gan.generator.trainable_variables)[:4])  # the first layers moved
    assert int(optimizers.unwrap(gan.d_optimizer).iterations) == 2 * TRAIN.n_critic
    assert int(optimizers.unwrap(gan.g_optimizer).iterations) == 1


def test_learning_rate_decays_linearly_with_the_generator_iteration():
    gan = _tiny_gan()
    assert float(gan.learning_rate()) == pytest.approx(2e-4)
    gan.iteration.assign(25)
    assert float(gan.learning_rate()) == pytest.approx(2e-4 * 0.75)
    gan.iteration.assign(150)
    assert float(gan.learning_rate()) == 0.0


def test_logs_are_finite_and_named():
    gan = _tiny_gan()
    step = tf.function(gan.train_step)
    iterator = iter(_batches())
    step(next(iterator))
    logs = {k: float(v) for k, v in step(next(iterator)).items()}
    assert set(logs) == {"d/wgan", "d/gp", "d/acgan", "d/cost", "d/acc_real", "d/acc_fake",
                         "g/wgan", "g/acgan", "g/cost", "lr", "split/num_classes", "d/grad_norm", "g/grad_norm",
                         "run/stop_requested"}
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["d/cost"] == pytest.approx(logs["d/wgan"] + logs["d/gp"] + logs["d/acgan"], rel=1e-5)
    assert logs["g/cost"] == pytest.approx(logs["g/wgan"] + 0.1 * logs["g/acgan"], rel=1e-5)


def test_generator_batch_statistics_are_per_group():
    gan = _tiny_gan()
    z = tf.random.normal([8, 128])
    y = tf.constant([0, 1, 2, 0, 1, 2, 0, 1])
    grouped = gan.generator(z, y, bn_groups=2).numpy()
    separate = np.concatenate([gan.generator(z[:4], y[:4]).numpy(), gan.generator(z[4:], y[4:]).numpy()])
    np.testing.assert_allclose(grouped, separate, atol=1e-5)
    assert not np.allclose(grouped, gan.generator(z, y).numpy(), atol=1e-3)


def test_the_generator_average_follows_each_generator_step_and_nothing_else():
    cfg = config.TrainConfig(batch_size=4, n_critic=2, iterations=100, seed=3, ema_decay=0.75)
    gan = _tiny_gan(cfg)
    assert gan.sampling_generator is gan.ema_generator
    for average, variable in zip(gan.ema_generator.variables, gan.generator.variables):
        np.testing.assert_array_equal(average.numpy(), variable.numpy())  # starts as a copy
    batch = next(iter(_batches(cfg)))
    gan.train_step(batch)  # iteration 0: critic steps only, so the average stays
    for average, variable in zip(gan.ema_generator.variables, gan.generator.variables):
        np.testing.assert_array_equal(average.numpy(), variable.numpy())
    before = _values(gan.ema_generator.trainable_variables)
    gan.train_step(batch)
    changed = 0
    for old, average, variable in zip(before, gan.ema_generator.trainable_variables, gan.generator.trainable_variables):
        np.testing.assert_allclose(average.numpy(), 0.75 * old + 0.25 * variable.numpy(), rtol=1e-6, atol=1e-7)
        changed += not np.array_equal(average.numpy(), variable.numpy())
    assert changed > len(before) // 2  # a real average, not a copy
    shared = {id(v) for v in gan.ema_generator.variables} & {id(v) for v in gan.generator.variables}
    assert shared == {id(v) for v in gan.generator.class_state.weights}  # one class state, nothing else shared


def test_the_iterations_graph_holds_one_critic_step_whatever_n_critic():
    from splitgan_keras.bench.single import graph_ops
    ops = {}
    for n_critic in (2, 5):
        train_cfg = dataclasses.replace(TRAIN, n_critic=n_critic)
        inputs = next(iter(_batches(train_cfg)))
        ops[n_critic] = graph_ops(tf.function(_tiny_gan(train_cfg).iteration_step).get_concrete_function(inputs))
    assert ops[2] == ops[5]


def test_the_loop_of_critic_steps_computes_what_the_steps_unrolled_compute():
    train_cfg = dataclasses.replace(TRAIN, n_critic=3)
    looped, unrolled = _tiny_gan(train_cfg), _tiny_gan(train_cfg)
    make = lambda: optimizers.adam(unrolled.learning_rate, 0.0, 0.9, 1e-8)
    unrolled.compile(make(), make(), critic_loop=False)
    for a, b in zip(looped.variables, unrolled.variables):
        b.assign(a)
    batches = iter(_batches(train_cfg))
    for _ in range(2):  # iteration 0 (critic steps only), then one with a generator step
        inputs = next(batches)
        logs = {gan: tf.function(gan.train_step)(inputs) for gan in (looped, unrolled)}
    for a, b in zip(looped.variables, unrolled.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.name)
    assert sorted(logs[looped]) == sorted(logs[unrolled])
    for name in logs[looped]:
        np.testing.assert_allclose(logs[looped][name], logs[unrolled][name], rtol=1e-6, err_msg=name)
    assert looped.d_optimizer.iterations.numpy() == unrolled.d_optimizer.iterations.numpy() == 2 * train_cfg.n_critic


@pytest.mark.skipif(not compat.xla_compiles_critic_loop(), reason="this TensorFlow's XLA does not compile the loop "
                    "(TF 2.6: dynamic slices of the critic inputs); build.py keeps the steps unrolled there")
def test_xla_compiles_the_loop_of_critic_steps_and_computes_what_tensorflow_computes():
    # As on a GPU: the iteration jit-compiled with its critic steps in a loop (build.py unrolls them under XLA on
    # the CPU only for speed). The random inputs come with the data, so both draw the same numbers.
    plain, compiled = _tiny_gan(), _tiny_gan()
    make = lambda: optimizers.adam(compiled.learning_rate, 0.0, 0.9, 1e-8)
    compiled.compile(make(), make(), xla=True, critic_loop=True)
    for a, b in zip(plain.variables, compiled.variables):
        b.assign(a)
    before = _values(plain.critic.trainable_variables)
    batch = next(iter(_batches()))
    for gan in (plain, compiled):
        tf.function(gan.train_step)(batch)
    assert any(_changed(before, compiled.critic.trainable_variables))
    for a, b in zip(plain.variables, compiled.variables):  # Adam's update may differ by a step where a gradient is ~0
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=3e-4, err_msg=a.name)
