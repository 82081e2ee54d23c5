"""The NPU path as the adapter behaves (tf_adapter_2.x), against the double that models it: skipped steps
counted as the optimizer decided them in saturation mode, loss scaling whenever fp16 is in the step,
thread settings that survive open(), both launch modes, and what an older adapter lacks."""
import json
import os
import subprocess
import sys

import pytest

from conftest import NPU_DOUBLE, ROOT, TINY, npu_events, npu_ranks_env, run_npu_ranks, run_script, run_with_npu_double
from splitgan_keras import launch, runtime


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
def test_an_overflow_on_one_rank_skips_the_step_on_every_rank(tmp_path):
    """The adapter all-reduces the float status over the ranks: calls 1 and 2 overflow on rank 1's
    device only, and both ranks skip the same steps, rank 0 with its own status clear."""
    args = TINY + ["--run-dir", tmp_path / "run", "--iterations", 3, "--device", "npu", "--precision", "mixed"]
    envs = npu_ranks_env(tmp_path, NPU_DOUBLE_OVERFLOW="1,2", NPU_DOUBLE_OVERFLOW_RANK="1")
    results = run_npu_ranks(["train.py"] + args, tmp_path, envs, timeout=300)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    steps = [[e for e in npu_events(tmp_path / ("rank%d.log" % r)) if e["event"] == "loss_scale_step"] for r in (0, 1)]
    assert [e["applied"] for e in steps[0]] == [e["applied"] for e in steps[1]]
    assert any(not e["applied"] and e["gradients_finite"] for e in steps[0])


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


@pytest.mark.slow
def test_in_the_cluster_launch_mode_the_runtimes_rank_alone_says_who_writes(tmp_path):
    """HCCL numbers the processes of a CM_* launch: here the process on the chief's host and device
    (device 0, CM_CHIEF_DEVICE) is rank 1, and the other rank 0. The run dir is written by rank 0 alone."""
    run_dir = tmp_path / "run"
    args = TINY + ["--run-dir", run_dir, "--iterations", 2, "--device", "npu"]
    env = dict(CM_ENV, CM_CHIEF_PORT=str(launch.free_ports(1)[0]))
    results = run_npu_ranks(["train.py"] + args, tmp_path, [dict(env, NPU_DOUBLE_HCCL_RANK="1"),
                                                            dict(env, NPU_DOUBLE_HCCL_RANK="0")], timeout=300)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    device_0, device_1 = (result.stdout for result in results)
    assert "this is rank 1" in device_0 and "the chief writes the run dir" in device_0
    assert "this is rank 0" in device_1 and "| export %s" % (run_dir / "export") in device_1
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index"]


@pytest.mark.parametrize("env, message", [
    (dict(CM_ENV, RANK_SIZE="2"), "RANK_SIZE and CM_CHIEF_IP are both set"),
    (dict(CM_ENV, RANK_TABLE_FILE="/x/hccl.json"), "RANK_TABLE_FILE and CM_CHIEF_IP are both set"),
    (dict(CM_ENV, RANK_ID="0"), "RANK_ID and CM_CHIEF_IP are both set"),
    ({k: v for k, v in CM_ENV.items() if k != "CM_CHIEF_PORT"}, "needs CM_CHIEF_PORT"),
    (dict(CM_ENV, CM_CHIEF_PORT="65521"), "CM_CHIEF_PORT='65521' in the environment: expected a whole number in 0..65520"),
    (dict(HCCL_CONNECT_TIMEOUT="60"), "HCCL_CONNECT_TIMEOUT='60' in the environment: expected a whole number in "
                                      "120..7200"),
    (dict(HCCL_EXEC_TIMEOUT="2147483648"), "expected a whole number in 0..2147483647"),
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


@pytest.mark.slow
def test_an_adapter_before_r1_12_trains_and_says_it_assumed_saturation(tmp_path):
    """r1.11 has neither is_inf_nan_enabled nor get_device_sat_mode (the crash the probe prevents)."""
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 2, "--device", "npu",
                                         "--precision", "mixed"], tmp_path / "npu.log", NPU_DOUBLE_BRANCH="r1.11.0",
                                 NPU_DOUBLE_SAT_MODE="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loss scaling dynamic, NpuLossScaleOptimizer (saturation mode assumed: this adapter (before r1.12) " \
           "reports none" in result.stdout, result.stdout[:2000]


class _Adapter:
    """What runtime.read_overflow_mode sees of a release: only the functions it has."""

    def __init__(self, **functions):
        self.__dict__.update(functions)


@pytest.mark.parametrize("adapter, inf_nan, says", [
    (_Adapter(), False, "saturation mode assumed: this adapter (before r1.12) reports none"),
    (_Adapter(get_device_sat_mode=lambda: 0), False, "saturation mode, from npu.get_device_sat_mode()"),
    (_Adapter(get_device_sat_mode=lambda: 1), True, "INF/NaN mode, from npu.get_device_sat_mode()"),
    (_Adapter(get_device_sat_mode=lambda: -1), False, "saturation mode assumed: npu.get_device_sat_mode() failed"),
    (_Adapter(is_inf_nan_enabled=lambda: False), False, "saturation mode, from npu.is_inf_nan_enabled()"),
    (_Adapter(is_inf_nan_enabled=lambda: True), True, "INF/NaN mode, from npu.is_inf_nan_enabled()")])
def test_the_overflow_mode_is_read_as_each_adapter_release_can(adapter, inf_nan, says):
    """r1.11 has neither function, r1.12 get_device_sat_mode (-1 when it fails), r1.13 on is_inf_nan_enabled."""
    read, how = runtime.read_overflow_mode(adapter)
    assert read == inf_nan and how.startswith(says)


def test_an_older_adapters_precision_modes_and_default_are_its_own(tmp_path):
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--device", "npu", "--npu-precision-mode",
                                         "allow_mix_precision_bf16", "--iterations", 1], tmp_path / "npu.log",
                                 NPU_DOUBLE_BRANCH="r1.11.0")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "--npu-precision-mode: the Ascend adapter refused precision_mode='allow_mix_precision_bf16'" in last


@pytest.mark.slow
def test_iterations_per_call_set_the_adapters_loop_size_so_each_call_gets_its_batches(tmp_path):
    """...and the training step runs on the device whole: no op the NPU leaves to the host."""
    log = tmp_path / "npu.log"
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 4, "--device", "npu",
                                         "--iterations-per-call", 2, "--precision", "mixed"], log)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [e["value"] for e in npu_events(log) if e["event"] == "loop_size"] == [2]
    assert [e for e in npu_events(log) if e["event"] == "host_fallback"] == []


def test_the_double_starves_a_loop_that_reads_more_than_the_loop_size(tmp_path):
    """What the adapter does to a call whose loop reads more elements than npu_loop_size: the device
    waits for ever; the double fails at the first element it was not given."""
    code = ("import tensorflow as tf, npu_device as npu; npu.open().as_default()\n"
            "@tf.function\n"
            "def two(iterator):\n"
            "    total = tf.constant(0, tf.int64)\n"
            "    for _ in tf.range(2):\n"
            "        total += next(iterator)\n"
            "    return total\n"
            "it = iter(tf.data.Dataset.range(10))\n"
            "npu.set_npu_loop_size(2); print(int(two(it)), int(two(it)))\n"
            "@tf.function\n"
            "def on_the_host(iterator):\n"
            "    return tf.py_function(lambda x: x, [next(iterator)], tf.int64)\n"
            "on_the_host(it)\n"
            "npu.set_npu_loop_size(1); two(it)\n")
    script = tmp_path / "loop.py"  # a file: AutoGraph reads the function's source
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=NPU_DOUBLE, NPU_DOUBLE_LOG=str(tmp_path / "l")))
    assert result.stdout.split() == ["1", "5"], result.stderr[-2000:]
    assert result.returncode != 0 and "read more elements of its iterator than npu_loop_size=1" in result.stderr
    fallbacks = [e for e in npu_events(tmp_path / "l") if e["event"] == "host_fallback"]
    assert len(fallbacks) == 1 and fallbacks[0]["ops"] == ["EagerPyFunc"] and "on_the_host" in fallbacks[0]["function"]


@pytest.mark.parametrize("seconds, note", [
    ("1836", None), ("68", None), ("17340", None), (None, None),
    ("100", "HCCL_EXEC_TIMEOUT=100: Atlas training (the 910) counts it in steps of 68 s and waits 68 s"),
    ("10", "waits 68 s"), ("17341", "is above the 17340 s Atlas training (the 910) accepts; Atlas A2 takes it"),
    ("0", "HCCL_EXEC_TIMEOUT=0 means never on Atlas A2; Atlas training (the 910) refuses 0")])
def test_hccl_exec_timeouts_are_taken_as_cann_takes_them_with_a_note_where_a_chip_changes_them(monkeypatch, seconds,
                                                                                                 note):
    monkeypatch.delenv("HCCL_EXEC_TIMEOUT", raising=False)
    if seconds is not None:
        monkeypatch.setenv("HCCL_EXEC_TIMEOUT", seconds)
    notes = launch.hccl_timeout_notes()
    assert (notes == []) if note is None else (len(notes) == 1 and note in notes[0])
