"""The device module: the NPU path through a test double of npu_device, and device errors."""
import json
import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import ROOT, TINY, needs_cpu_bfloat16, npu_events, run_script, run_with_npu_double, train_cli
from splitgan_keras import compat, config, cpu_backend, runtime
from splitgan_keras.errors import UserError


@pytest.mark.slow
def test_npu_mixed_sets_options_before_open_and_wraps_both_optimizers(tmp_path):
    log = tmp_path / "npu.log"
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 3, "--device", "npu",
                                         "--precision", "mixed", "--overflow-dump", "--dump-path", tmp_path / "dump",
                                         "--mixlist-file", os.path.join(os.path.dirname(__file__), "npu_mixlist.json"),
                                         "--profiling", "--profiling-dir", tmp_path / "prof",
                                         "--iterations-per-call", 3], log, device_id="3")
    assert result.returncode == 0, result.stderr
    events = npu_events(log)
    kinds = [e["event"] for e in events]
    opened = kinds.index("open")
    assert kinds[opened + 1] == "as_default"
    options = {e["name"]: e["value"] for e in events if e["event"] == "option"}
    assert all(e["event"] != "option" or not e["after_open"] for e in events)
    assert all(i < opened for i, k in enumerate(kinds) if k == "option")
    assert options["DumpConfig.enable_dump_debug"] is True and options["DumpConfig.dump_debug_mode"] == "all"
    assert options["NpuConfig.modify_mixlist"].endswith("npu_mixlist.json")
    assert options["ProfilingConfig.enable_profiling"] is True
    assert json.loads(options["ProfilingConfig.profiling_options"])["output"] == str(tmp_path / "prof")
    assert "NpuConfig.precision_mode" not in options  # left at the adapter's default under the mixed policy
    assert events[opened]["device_id"] == 3  # from ASCEND_DEVICE_ID
    wrapped = [e for e in events if e["event"] == "npu_loss_scale_optimizer"]
    assert len(wrapped) == 2 and all(e["dynamic"] for e in wrapped)
    assert "jit_compile_requested" not in kinds
    # the adapter's loop size follows --iterations-per-call (here 3: a call's loop is given 3 batches)
    assert [e["value"] for e in events if e["event"] == "loop_size"] == [3]
    assert "device npu (/job:localhost/replica:0/task:0/device:NPU:3), policy mixed_float16" in result.stdout
    assert "loss scaling dynamic, NpuLossScaleOptimizer" in result.stdout
    assert "done: 3 iterations" in result.stdout


@pytest.mark.slow
def test_npu_fp32_with_a_precision_mode_and_no_loss_scaling(tmp_path):
    log = tmp_path / "npu.log"
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 2, "--device", "npu",
                                         "--precision_mode", "must_keep_origin_dtype"], log)
    assert result.returncode == 0, result.stderr
    events = npu_events(log)
    assert {"event": "option", "name": "NpuConfig.precision_mode", "value": "must_keep_origin_dtype",
            "after_open": False} in events
    assert not [e for e in events if e["event"] == "npu_loss_scale_optimizer"]
    assert "policy float32, loss scaling none" in result.stdout


@pytest.mark.slow
def test_npu_parity_record_names_the_device_and_adapter(tmp_path):
    path = tmp_path / "npu.json"
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--device", "npu", "--parity-record", path,
                                         "--parity-iterations", 2], tmp_path / "npu.log")
    assert result.returncode == 0, result.stderr
    record = json.loads(path.read_text())
    assert record["device"] == "npu" and record["device_name"].endswith("NPU:0") and len(record["iterations"]) == 2
    assert "npu_device" in record["versions"]


def test_npu_option_refused_by_the_adapter_names_the_flag(tmp_path):
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--device", "npu",
                                         "--npu-precision-mode", "fastest"], tmp_path / "npu.log")
    assert result.returncode == 2
    assert "error: --npu-precision-mode: the Ascend adapter refused precision_mode='fastest'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_npu_without_the_adapter_says_how_to_get_it(tmp_path):
    result = run_script("train.py", TINY + ["--run-dir", tmp_path / "run", "--device", "npu"])
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --device npu: cannot import npu_device") and "set_env.sh" in last


def test_xla_is_refused_on_the_npu(tmp_path, capsys):
    status, _, err = train_cli(TINY + ["--run-dir", tmp_path / "run", "--device", "npu", "--xla"], capsys)
    assert status == 2 and "--xla is not available with --device npu" in err


def test_gpu_requested_without_a_gpu(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    cfg = config.with_overrides(config.Config(), {"runtime.device": "gpu"}, "test")
    with pytest.raises(UserError, match="--device gpu: TensorFlow sees no GPU on this machine"):
        runtime.setup(cfg)


@pytest.mark.parametrize("device, precision, policy, scaling", [
    ("cpu", "fp32", "float32", None), pytest.param("cpu", "mixed", "mixed_bfloat16", None, marks=needs_cpu_bfloat16)])
def test_cpu_policies(device, precision, policy, scaling):
    cfg = config.with_overrides(config.Config(), {"runtime.device": device, "runtime.precision": precision}, "t")
    rt = runtime.setup(cfg)
    assert (rt.device, rt.policy, rt.loss_scale_optimizer) == (device, policy, scaling)
    assert tf.keras.mixed_precision.global_policy().name == policy


def test_cpu_mixed_precision_without_bfloat16_convolutions_is_refused(monkeypatch):
    monkeypatch.setattr(compat, "cpu_bfloat16_convolutions", lambda: False)
    cfg = config.with_overrides(config.Config(), {"runtime.device": "cpu", "runtime.precision": "mixed"}, "t")
    with pytest.raises(UserError, match="--precision mixed on the CPU .* needs bfloat16 convolutions"):
        runtime.setup(cfg)


@pytest.mark.slow
def test_xla_compiles_the_training_step(tmp_path, capsys):
    # XLA draws other numbers from the same tf.random.Generator state (checked: same state, different
    # values), so an XLA run is not compared with a plain one; it must compile and train. One critic step:
    # on the CPU they are unrolled under XLA, and each adds to the compile time (test_train_step covers the loop).
    status, out, err = train_cli(TINY + ["--parity-record", tmp_path / "xla.json", "--parity-iterations", 2, "--xla",
                                         "--n-critic", 1], capsys)
    assert status == 0, err
    assert "XLA" in out
    last = json.loads((tmp_path / "xla.json").read_text())["iterations"][-1]
    assert all(abs(v) < 1e6 for k, v in last.items() if k != "iteration")
    assert last["g/grad_norm"] > 0 and last["d/grad_norm"] > 0


def test_threads_size_both_pools_in_a_fresh_process():
    code = ("import tensorflow as tf; from splitgan_keras import config, runtime; "
            "runtime.setup(config.with_overrides(config.Config(), {'runtime.threads': 3}, 'test')); "
            "print(tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3"]


def test_threads_cannot_change_once_tensorflow_runs():
    tf.constant(1.0) + 1.0  # the eager context, and with it the thread pools, exist from here on
    current = tf.config.threading.get_intra_op_parallelism_threads()
    runtime.set_threads(current)  # the same count is no change
    with pytest.raises(UserError, match=r"--threads %d: this process already runs TensorFlow" % (current + 5)):
        runtime.set_threads(current + 5)


def _fresh_python(code, variable, preset):
    """Runs `code` in a new Python whose environment has `variable` unset, or set to `preset`."""
    env = {k: v for k, v in os.environ.items() if k != variable}
    if preset is not None:
        env[variable] = preset
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("preset", [None, "0"])
def test_the_package_turns_onednn_on_before_tensorflow_unless_the_user_chose(preset):
    code = ("import sys, os, splitgan_keras; assert 'tensorflow' not in sys.modules; "
            "from splitgan_keras import cpu_backend; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), "
            "cpu_backend.describe())")
    result = _fresh_python(code, "TF_ENABLE_ONEDNN_OPTS", preset)
    reliable = cpu_backend.onednn_reliable(cpu_backend.installed_tensorflow(), cpu_backend.cpu_vendor())
    expected = preset if preset is not None else ("1" if reliable else "None")
    assert result.stdout.startswith(expected + " ")
    assert ("set by the user" in result.stdout) == (preset is not None)
    assert ("miscomputes with oneDNN" in result.stdout) == (preset is None and not reliable)


@pytest.mark.parametrize("preset", [None, "0"])
def test_tensorflows_start_up_lines_are_quiet_on_the_cpu_unless_the_user_chose(preset):
    code = ("import os, splitgan_keras, tensorflow as tf; print(os.environ['TF_CPP_MIN_LOG_LEVEL']); "
            "tf.function(lambda x: tf.nn.conv2d(x, tf.ones([3, 3, 3, 2]), 1, 'SAME'))(tf.ones([1, 8, 8, 3]))")
    result = _fresh_python(code, "TF_CPP_MIN_LOG_LEVEL", preset)
    assert result.stdout.split() == [preset or "3"]  # this machine has no GPU or NPU
    if preset is None:  # TensorFlow 2.15 writes cuDNN/cuFFT/cuBLAS "Unable to register" lines at level 0
        lines = result.stderr.splitlines()
        if tuple(int(p) for p in tf.__version__.split(".")[:2]) >= (2, 16):
            # From 2.16 TensorFlow logs some start-up INFO lines through absl, which no variable quiets before
            # absl::InitializeLog: those (and absl's note about them) alone may remain.
            lines = [line for line in lines if not _ABSL_INFO.match(line)]
        assert lines == []


_ABSL_INFO = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
                        r"|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ")


@pytest.mark.parametrize("tensorflow, vendor, reliable", [
    ((2, 15), "AuthenticAMD", True), ((2, 15), "GenuineIntel", True), ((2, 21), "unknown", True),
    ((2, 6), "GenuineIntel", True), ((2, 6), "AuthenticAMD", False), ((2, 6), "unknown", False),
    (None, "AuthenticAMD", False), (None, "GenuineIntel", True)])
def test_onednn_is_left_off_where_the_tensorflow_of_the_stack_miscomputes_with_it(tensorflow, vendor, reliable):
    assert cpu_backend.onednn_reliable(tensorflow, vendor) == reliable
    assert cpu_backend.installed_tensorflow()[:2] == tuple(int(p) for p in tf.__version__.split(".")[:2])
