"""Mixed precision against fp32, loss-scale state in checkpoints, and parity records."""
import copy
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY, needs_cpu_bfloat16, train_cli
from splitgan_keras import config, runtime
from splitgan_keras.artefacts import checkpoints
from splitgan_keras.cli import main as cli_main
from splitgan_keras.data import builtin_data
from splitgan_keras.models import losses, networks, optimizers
from splitgan_keras.parity import records as parity
from splitgan_keras.train import build


def _critic_in(policy, weights=None):
    tf.keras.mixed_precision.set_global_policy(policy)
    critic = networks.Critic(width=8)
    critic(tf.zeros([1, 16, 16, 3]))
    if weights is not None:
        critic.set_weights(weights)
    tf.keras.mixed_precision.set_global_policy("float32")
    return critic


@pytest.mark.parametrize("policy, rtol", [("mixed_float16", 2e-2),
                                          pytest.param("mixed_bfloat16", 5e-2, marks=needs_cpu_bfloat16)])
def test_gradient_penalty_under_mixed_precision_matches_fp32(policy, rtol):
    reference = _critic_in("float32")
    mixed = _critic_in(policy, reference.get_weights())
    assert mixed.blocks[0].conv1.compute_dtype != "float32" and mixed.score_head.compute_dtype == "float32"
    rng = np.random.default_rng(0)
    real, fake = (tf.constant(rng.uniform(-1, 1, (8, 16, 16, 3)), tf.float32) for _ in range(2))
    alpha = tf.constant(rng.uniform(size=(8, 1, 1, 1)), tf.float32)
    values = {}
    for name, critic in (("fp32", reference), ("mixed", mixed)):
        with tf.GradientTape() as tape:
            gp = losses.gradient_penalty(lambda x: critic(x)["score"], real, fake, alpha)
        grads = [g for g in tape.gradient(gp, critic.trainable_variables) if g is not None]  # not the class head
        assert gp.dtype == tf.float32 and all(np.all(np.isfinite(g.numpy())) for g in grads)
        values[name] = (float(gp), tf.linalg.global_norm(grads).numpy())
    assert values["mixed"][0] == pytest.approx(values["fp32"][0], rel=rtol)
    assert values["mixed"][1] == pytest.approx(values["fp32"][1], rel=rtol)


@pytest.mark.slow
@needs_cpu_bfloat16
def test_mixed_and_fp32_training_track_each_other(tmp_path, capsys):
    # bf16 on the CPU against fp32, 8 iterations from the same weights and random numbers: every loss
    # term, gradient norm and output statistic within the default mixed tolerance (rtol 0.1, atol 0.02).
    common = TINY + ["--parity-iterations", 8]
    for name, precision in (("fp32", "fp32"), ("mixed", "mixed")):
        status, _, err = train_cli(common + ["--precision", precision, "--parity-record", tmp_path / (name + ".json")],
                                   capsys)
        assert status == 0, err
    a, b = parity.read(str(tmp_path / "fp32.json")), parity.read(str(tmp_path / "mixed.json"))
    assert (a["policy"], b["policy"]) == ("float32", "mixed_bfloat16")
    rows, notes, ok = parity.compare(a, b)
    assert ok, parity.format_report("fp32", a, "mixed", b, rows, notes, ok)
    assert not notes  # same random numbers on both sides
    d_cost = [r for r in rows if r.quantity == "d/cost"][0]
    assert 0 < d_cost.largest and 0 < d_cost.worst_share <= 1  # the precisions really differ, within tolerance


def test_parity_compare_passes_itself_and_catches_a_perturbation(tmp_path, capsys):
    path = tmp_path / "a.json"
    assert train_cli(TINY + ["--parity-record", path, "--parity-iterations", 3], capsys)[0] == 0
    record = json.loads(path.read_text())
    assert len(record["iterations"]) == 3 and record["device"] == "cpu" and "tensorflow" in record["versions"]
    assert {"d/cost", "d/grad_norm", "g/grad_norm", "gen/std"} <= set(record["iterations"][-1])
    assert record["replicas"] == 1
    assert cli_main.main_eval(["--compare", str(path), str(path)]) == 0
    assert "parity: within tolerance" in capsys.readouterr().out

    perturbed = copy.deepcopy(record)
    perturbed["iterations"][2]["d/gp"] *= 1.05
    (tmp_path / "b.json").write_text(json.dumps(perturbed))
    assert cli_main.main_eval(["--compare", str(path), str(tmp_path / "b.json"), "--rtol", "0.01"]) == 1
    out = capsys.readouterr().out
    assert "d/gp" in out and "EXCEEDED" in out and "parity: EXCEEDED for d/gp" in out
    rows, _, ok = parity.compare(record, perturbed, rtol=0.01)
    gp = [r for r in rows if r.quantity == "d/gp"][0]
    third = record["iterations"][2]
    assert not ok and not gp.passed and gp.largest_at == gp.worst_at == third["iteration"]
    assert gp.largest == pytest.approx(0.05 * abs(third["d/gp"])) and gp.worst_share > 1
    perturbed["iterations"][2]["d/gp"] = float("nan")  # one side non-finite: never within tolerance
    rows, _, ok = parity.compare(record, perturbed, rtol=10.0)
    assert not ok and [r.quantity for r in rows if not r.passed] == ["d/gp"]

    other = copy.deepcopy(record)
    other["config"]["model"]["width"] = 16
    (tmp_path / "c.json").write_text(json.dumps(other))
    assert cli_main.main_eval(["--compare", str(path), str(tmp_path / "c.json")]) == 2
    assert "different configurations (sections model differ)" in capsys.readouterr().err
    (tmp_path / "d.json").write_text("{}")
    assert cli_main.main_eval(["--compare", str(path), str(tmp_path / "d.json")]) == 2
    assert "is not a parity record" in capsys.readouterr().err


def test_loss_scale_state_is_checkpointed(tmp_path):
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    cfg = config.with_overrides(config.Config(), {"model.width": 8, "model.image_size": 16, "train.batch_size": 4},
                                "test")
    rt = runtime.Runtime("cpu", "mixed_float16", loss_scale_optimizer=tf.keras.mixed_precision.LossScaleOptimizer)
    gan = build.build_gan(cfg, builtin_data.make(16, 16), rt)
    state = optimizers.loss_scale_state(gan.d_optimizer)
    assert state is not None and optimizers.loss_scale_state(optimizers.unwrap(gan.d_optimizer)) is None
    store = checkpoints.TrainingCheckpoints(str(tmp_path), gan, keep=1)
    gan.d_optimizer.dynamic_counter.assign(7)
    path = store.save()
    gan.d_optimizer.dynamic_counter.assign(0)
    store.restore(path)
    assert int(gan.d_optimizer.dynamic_counter) == 7
