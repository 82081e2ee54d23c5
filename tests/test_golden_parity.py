"""Parity with the original TF1 code: forward values, losses, gradients and one Adam step.

Tolerances are those the golden README observed between two faithful implementations.
"""
import numpy as np
import pytest
import tensorflow as tf

from golden_sets import GoldenSet, golden_dirs, nhwc
from splitgan_keras.artefacts import tf1_import
from splitgan_keras.models import optimizers

FORWARD_ATOL = 2e-5


@pytest.fixture(scope="module", params=golden_dirs(), ids=lambda p: p.rsplit("/", 1)[-1])
def golden(request):
    return GoldenSet(request.param)


def _entries(gan):
    """(TF1 name, variable, layout) of every parameter, and the network it belongs to."""
    return ([(n, v, f, "gen") for n, v, f in tf1_import.generator_entries(gan.generator)]
            + [(n, v, f, "disc") for n, v, f in tf1_import.critic_entries(gan.critic)])


def _critic_gradients(gan, golden):
    x_real, y, z, alpha = golden.critic_inputs()
    x_fake = gan.generator(z, y, bn_groups=2)
    with tf.GradientTape() as tape:
        logs = gan.critic_losses(x_real, y, x_fake, alpha)
    return logs, tape.gradient(logs["d/cost"], gan.critic.trainable_variables)


def _generator_gradients(gan, golden):
    with tf.GradientTape() as tape:
        logs = gan.generator_losses(*golden.generator_inputs())
    return logs, tape.gradient(logs["g/cost"], gan.generator.trainable_variables)


def test_forward_outputs(golden):
    gan = golden.build()
    fw, i = golden.forward, golden.inputs
    G, D = gan.generator, gan.critic
    x_real, y, z, _ = golden.critic_inputs()
    np.testing.assert_array_equal(x_real.numpy(), nhwc(fw["real_data_float"]))
    x_fake = G(z, y, bn_groups=2)
    expected_fake = nhwc(np.concatenate([fw["gen_critic_half0"], fw["gen_critic_half1"]]))
    np.testing.assert_allclose(x_fake.numpy(), expected_fake, atol=FORWARD_ATOL, rtol=0)
    out = D(tf.concat([x_real, x_fake], 0))
    for key, golden_key in [("score", "critic_realfake_score"), ("class_logits", "critic_realfake_logits"),
                            ("features", "critic_realfake_features")]:
        np.testing.assert_allclose(out[key].numpy(), fw[golden_key], atol=FORWARD_ATOL, rtol=0, err_msg=key)
    standalone = G(tf.constant(i["fixed_noise"]), tf.constant(i["fixed_labels"]))
    np.testing.assert_allclose(standalone.numpy(), nhwc(fw["gen_standalone"]), atol=FORWARD_ATOL, rtol=0)
    z_gen, y_gen = golden.generator_inputs()
    expected_gen = nhwc(np.concatenate([fw["gen_gen_half0"], fw["gen_gen_half1"]]))
    np.testing.assert_allclose(G(z_gen, y_gen, bn_groups=2).numpy(), expected_gen, atol=FORWARD_ATOL, rtol=0)


def test_loss_terms_and_learning_rate(golden):
    gan = golden.build()
    fw = golden.forward
    d_logs, _ = _critic_gradients(gan, golden)
    g_logs, _ = _generator_gradients(gan, golden)
    expected = {"d/wgan": "disc_wgan_no_gp", "d/gp": "gradient_penalty", "d/acgan": "disc_acgan",
                "d/cost": "disc_cost", "d/acc_real": "disc_acgan_acc", "d/acc_fake": "disc_acgan_fake_acc",
                "g/wgan": "gen_wgan", "g/acgan": "gen_acgan", "g/cost": "gen_cost"}
    logs = dict(d_logs, **g_logs)
    for key, golden_key in expected.items():
        assert float(logs[key]) == pytest.approx(float(fw[golden_key]), abs=FORWARD_ATOL, rel=2e-6), key
    assert float(gan.learning_rate()) == pytest.approx(float(fw["learning_rate"]), rel=1e-7)


def test_critic_gradients(golden):
    gan = golden.build()
    _, grads = _critic_gradients(gan, golden)
    by_var = {id(v): g for v, g in zip(gan.critic.trainable_variables, grads)}
    for name, var, layout, net in _entries(gan):
        if net != "disc":
            continue
        ours, theirs = layout(by_var[id(var)].numpy()), golden.grads[name]
        assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max() + 1e-12, name


def test_generator_gradients(golden):
    gan = golden.build()
    _, grads = _generator_gradients(gan, golden)
    by_var = {id(v): g for v, g in zip(gan.generator.trainable_variables, grads)}
    roundoff = golden.roundoff_names()
    for name, var, layout, net in _entries(gan):
        if net != "gen":
            continue
        ours, theirs = layout(by_var[id(var)].numpy()), golden.grads[name]
        if name in roundoff:
            np.testing.assert_allclose(ours, theirs, atol=1e-7, rtol=0, err_msg=name)
        else:
            assert np.linalg.norm(ours - theirs) <= 1e-2 * np.linalg.norm(theirs), name


def _check_after_step(gan, golden, net, step_key, optimizer, gradient_tolerance):
    """Parameters, Adam m and v, and the step count after one update, against the golden state."""
    lr = float(golden.forward["learning_rate"])
    after = {k.split("/", 1)[1]: v for k, v in golden.after.items() if k.startswith(step_key + "/")}
    for name, var, layout, owner in _entries(gan):
        if owner != net:
            continue
        g = golden.grads[name]
        param = layout(var.numpy())
        tol = np.where(np.abs(g) >= 1e-4, 1e-6, 2 * lr + 1e-7)
        assert np.all(np.abs(param - after[name]) <= tol), name
        m = layout(optimizers.slot(optimizer, var, "m").numpy())
        v = layout(optimizers.slot(optimizer, var, "v").numpy())
        gradient_tolerance(m, after[name + "/Adam"], name + "/Adam")
        # v = (1 - beta2) g^2 on the first step: compare its square root, a gradient magnitude.
        gradient_tolerance(np.sqrt(v / 0.1), np.sqrt(after[name + "/Adam_1"] / 0.1), name + "/Adam_1")
    power_name = tf1_import.BETA2_POWER_NAMES["generator" if net == "gen" else "critic"]
    steps = round(np.log(after[power_name]) / np.log(0.9)) - 1
    assert int(optimizers.unwrap(optimizer).iterations) == steps


def _snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def test_critic_step_state(golden):
    gan = golden.build()
    generator_before = _snapshot(gan.generator)

    def tolerance(ours, theirs, name):
        assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max() + 1e-12, name

    gan.critic_step(*golden.critic_inputs())
    _check_after_step(gan, golden, "disc", "disc_step", gan.d_optimizer, tolerance)
    for before, var in zip(generator_before, gan.generator.variables):
        np.testing.assert_array_equal(var.numpy(), before, err_msg=var.name)


def test_generator_step_state(golden):
    gan = golden.build()
    critic_before = _snapshot(gan.critic)
    roundoff = golden.roundoff_names()

    def tolerance(ours, theirs, name):
        if name.rsplit("/", 1)[0] in roundoff:
            return  # m of a zero-gradient bias is round-off; its parameter check above still applies
        assert np.linalg.norm(ours - theirs) <= 1e-2 * np.linalg.norm(theirs) + 1e-12, name

    gan.generator_step(*golden.generator_inputs())
    _check_after_step(gan, golden, "gen", "gen_step", gan.g_optimizer, tolerance)
    for before, var in zip(critic_before, gan.critic.variables):
        np.testing.assert_array_equal(var.numpy(), before, err_msg=var.name)
