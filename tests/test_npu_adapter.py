"""The NPU path as the adapter behaves (tf_adapter_2.x), against the double that models it: skipped steps
counted as the optimizer decided them in saturation mode, loss scaling whenever fp16 is in the step,
thread settings that survive open(), both launch modes, and what an older adapter lacks."""
import json
import os

import pytest

from conftest import NPU_DOUBLE, TINY, npu_events, npu_ranks_env, run_npu_ranks, run_script, run_with_npu_double
from splitgan_keras import launch


@pytest.mark.slow
def test_saturated_overflows_are_counted_as_the_optimizer_skipped_them(tmp_path):
    # Calls 1 and 2 of each optimizer overflow: the gradients stay finite (saturation), the steps are skipped.
    log = tmp_path / "npu.log"
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 4, "--device", "npu",
                                         "--precision", "mixed", "--log-every", 1], log, NPU_DOUBLE_OVERFLOW="1,2")
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [e for e in npu_events(log) if e["event"] == "loss_scale_step"]
    skipped = [e for e in steps if not e["applied"]]
    # The saturated ones: finite gradients, yet skipped (of the 4 injected; an injected call whose gradients
    # overflowed anyway, as the first steps at the initial loss scale may, counts once).
    assert len([e for e in skipped if e["gradients_finite"]]) >= 2
    line = next(line for line in result.stdout.splitlines() if line.startswith("steps skipped by dynamic loss scaling"))
    counted = dict(part.split() for part in line.split(": ", 1)[1].split(", "))
    assert int(counted["d/skipped"]) + int(counted["g/skipped"]) == len(skipped)  # as the optimizer decided


@pytest.mark.slow
def test_training_that_no_longer_moves_stops_with_a_clear_message(tmp_path):
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 200, "--device", "npu",
                                         "--precision", "mixed", "--checkpoint-every", 0], tmp_path / "npu.log",
                                 NPU_DOUBLE_OVERFLOW="all")
    assert result.returncode == 4, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "updates were skipped in each of the last 20 iterations" in last and "loss scale at its floor (1)" in last
    assert not (tmp_path / "run" / "checkpoints" / "checkpoint").exists()


@pytest.mark.slow
@pytest.mark.parametrize("precision_mode, wrapped", [(None, True), ("allow_mix_precision", True),
                                                     ("allow_mix_precision_bf16", False)])
def test_fp32_gets_loss_scaling_whenever_the_precision_mode_puts_fp16_in_the_step(tmp_path, precision_mode, wrapped):
    args = TINY + ["--run-dir", tmp_path / "run", "--iterations", 2, "--device", "npu"]
    if precision_mode:
        args += ["--precision_mode", precision_mode]
    result = run_with_npu_double(args, tmp_path / "npu.log")
    assert result.returncode == 0, result.stderr[-3000:]
    optimizers = [e for e in npu_events(tmp_path / "npu.log") if e["event"] == "npu_loss_scale_optimizer"]
    assert len(optimizers) == (2 if wrapped else 0)
    assert ("policy float32, loss scaling dynamic, NpuLossScaleOptimizer" in result.stdout) == wrapped


@pytest.mark.slow
def test_threads_survive_the_context_that_open_replaces(tmp_path):
    log = tmp_path / "npu.log"
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 1, "--device", "npu",
                                         "--threads", 1], log)
    assert result.returncode == 0, result.stderr[-3000:]
    replaced = [e for e in npu_events(log) if e["event"] == "context_replaced"]
    assert replaced == [{"event": "context_replaced", "intra_op_threads": "1", "inter_op_threads": "1"}]


def test_an_adapter_without_the_deterministic_option_is_named(tmp_path):
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--device", "npu", "--deterministic"],
                                 tmp_path / "npu.log", NPU_DOUBLE_BRANCH="r1.11.0")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "has from its branch r1.12.0 on; the installed one (0.1) has none" in last, result.stderr[-2000:]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_parity_records_carry_the_installed_adapters_version(tmp_path):
    path = tmp_path / "npu.json"
    result = run_with_npu_double(TINY + ["--device", "npu", "--parity-record", path, "--parity-iterations", 1],
                                 tmp_path / "npu.log")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(path.read_text())["versions"]["npu_device"] == "0.1"


def test_an_adapter_built_for_another_tensorflow_is_a_hint(tmp_path):
    broken = tmp_path / "broken" / "npu_device"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        "import tensorflow as tf\n"
        "raise tf.errors.NotFoundError(None, None, '_npu_device_backends.so: undefined symbol: _ZN10tensorflow8OpKernel')\n")
    result = run_script("train.py", TINY + ["--run-dir", tmp_path / "run", "--device", "npu"],
                        env=dict(os.environ, PYTHONPATH=str(broken.parent)))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --device npu: npu_device's op library does not load into TensorFlow") and \
        "undefined symbol" in last


CM_ENV = {"CM_WORKER_SIZE": "2", "CM_CHIEF_IP": "127.0.0.1", "CM_CHIEF_PORT": "29688", "CM_CHIEF_DEVICE": "0",
          "CM_WORKER_IP": "127.0.0.1"}


@pytest.mark.slow
def test_two_ranks_in_the_cluster_launch_mode(tmp_path):
    run_dir = tmp_path / "run"
    args = TINY + ["--run-dir", run_dir, "--iterations", 2, "--device", "npu"]
    env = dict(CM_ENV, CM_CHIEF_PORT=str(launch.free_ports(1)[0]))  # where the double's ranks meet
    results = run_npu_ranks(["train.py"] + args, tmp_path, [env, env], timeout=300)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    assert "2 NPU ranks (this is rank 1), HCCL" in results[1].stdout
    assert "2 NPU ranks (this is rank 0), HCCL" in results[0].stdout
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index"]
    opened = [next(e for e in npu_events(tmp_path / ("rank%d.log" % r)) if e["event"] == "open") for r in (0, 1)]
    assert [(e["workers_num"], e["worker_id"]) for e in opened] == [(2, 0), (2, 1)]


@pytest.mark.parametrize("env, message", [
    (dict(CM_ENV, RANK_SIZE="2"), "RANK_SIZE and CM_WORKER_SIZE are both set"),
    (dict(CM_ENV, RANK_TABLE_FILE="/x/hccl.json"), "CM_CHIEF_IP and RANK_TABLE_FILE are both set"),
    ({k: v for k, v in CM_ENV.items() if k != "CM_CHIEF_PORT"}, "needs CM_CHIEF_PORT"),
])
def test_conflicting_or_partial_launch_variables_are_refused(tmp_path, env, message):
    result = run_script("train.py", TINY + ["--run-dir", tmp_path / "run", "--device", "npu"],
                        env=dict(os.environ, PYTHONPATH=NPU_DOUBLE, **env))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and message in result.stderr
    assert not (tmp_path / "run").exists()


def test_data_dump_and_overflow_dump_together_are_refused(tmp_path):
    result = run_script("train.py", TINY + ["--run-dir", tmp_path / "run", "--device", "npu", "--data-dump",
                                            "--overflow-dump", "--dry-run"])
    assert result.returncode == 2 and "cannot be used with --data-dump" in result.stderr


# Two ranks of the double, each issuing a broadcast and then an all_reduce of a float and an int tensor
# in one compiled step; RANK1_DTYPE and RANK1_ORDER make rank 1 issue them otherwise.
COLLECTIVES = """
import os
import tensorflow as tf
import npu_device
npu_device.open().as_default()
rank = int(os.environ["RANK_ID"])
weights = tf.Variable([float(rank)] * 3)
npu_device.distribute.broadcast([weights], root_rank=1)
value = tf.constant([1.0, 2.0], os.environ.get("RANK%d_DTYPE" % rank, "float32")) * (2 * rank + 1)

@tf.function
def step(value):
    values = [value, tf.cast(value, tf.int32)]
    return npu_device.distribute.all_reduce(values[::-1] if os.environ.get("RANK%d_ORDER" % rank) else values, "mean")

print([t.numpy().tolist() for t in [weights] + step(value)])
"""


def test_the_doubles_ranks_really_combine_their_collectives(tmp_path):
    results = run_npu_ranks(["-c", COLLECTIVES], tmp_path, npu_ranks_env(tmp_path), timeout=120)
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
        # root rank 1's weights; the mean of [1, 2] and [3, 6] (the adapter divides integers into floats)
        assert result.stdout.strip() == "[[1.0, 1.0, 1.0], [2.0, 4.0], [2.0, 4.0]]"


@pytest.mark.parametrize("rank1, issued", [({"RANK1_DTYPE": "float16"}, "rank 1 all_reduce sum float16[2]"),
                                           ({"RANK1_ORDER": "1"}, "rank 1 all_reduce sum int32[2]")])
def test_a_collective_issued_otherwise_on_another_rank_fails_on_both(tmp_path, rank1, issued):
    rank_envs = npu_ranks_env(tmp_path)
    rank_envs[1].update(rank1)
    results = run_npu_ranks(["-c", COLLECTIVES], tmp_path, rank_envs, timeout=120)
    message = "collective #1 differs between the ranks: rank 0 issued all_reduce sum float32[2], " + issued
    for result in results:
        assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
