"""Shared fixtures: op determinism for the whole session, tiny configurations, CLI runners."""
import json
import os
import pickle
import subprocess
import sys
import tempfile

# One cache (FID statistics) for the session, never the user's own.
os.environ["SPLITGAN_CACHE"] = tempfile.mkdtemp(prefix="splitgan-test-cache-")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import splitgan_keras  # noqa: E402,F401  before TensorFlow, as every entry point: CPU kernels, log level
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so that tests can run two replicas in this process (MirroredStrategy).
# They must exist before TensorFlow starts; single-device work runs on the first.
REPLICA_DEVICES = 2
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * REPLICA_DEVICES)

from splitgan_keras import compat  # noqa: E402
from splitgan_keras.cli import main as cli_main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

compat.enable_determinism()

# TF 2.6 runs no bfloat16 convolutions on the CPU reliably, so the CPU's mixed policy cannot run there.
needs_cpu_bfloat16 = pytest.mark.skipif(not compat.cpu_bfloat16_convolutions(), reason=(
    "this TensorFlow runs no bfloat16 convolutions on the CPU reliably (TF 2.6), so --precision mixed is refused "
    "on the CPU; test_devices.py checks the refusal"))

# A model small enough that a training iteration takes milliseconds.
TINY = ["--width", "8", "--image-size", "16", "--batch-size", "4", "--n-critic", "2", "--builtin-size", "64",
        "--log-every", "0", "--sample-every", "0", "--checkpoint-every", "0", "--set", "output.samples_per_class=2"]


def train_cli(args, capsys=None):
    """Runs train.py's main in this process; returns (exit status, stdout, stderr)."""
    status = cli_main.main_train([str(a) for a in args])
    out, err = capsys.readouterr() if capsys else ("", "")
    return status, out, err


def run_script(script, args, timeout=600, env=None):
    """Runs a top-level script in a fresh Python process, as a user would (env: its environment)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def write_cifar_batches(folder, per_batch=12, seed=0, corrupt=None):
    """Writes the 5 CIFAR-10 training batches in the real pickle format, with few images.

    corrupt: optional function(batch dict) -> batch dict applied to data_batch_3.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(1, 6):
        batch = {b"batch_label": b"training batch %d of 5" % i,
                 b"labels": [int(x) for x in np.arange(per_batch) % 10],
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)}
        if corrupt and i == 3:
            batch = corrupt(batch)
        with open(os.path.join(folder, "data_batch_%d" % i), "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder


@pytest.fixture
def cifar_dir(tmp_path):
    return write_cifar_batches(str(tmp_path / "cifar-10-batches-py"))


@pytest.fixture(autouse=True)
def float32_policy_afterwards():
    """Tests that set a mixed-precision policy must not leak it into the next test."""
    yield
    tf.keras.mixed_precision.set_global_policy("float32")


NPU_DOUBLE = os.path.join(ROOT, "tests", "npu_double")


def npu_events(log_path):
    """The events the npu_device double recorded, one JSON object per line of its log."""
    with open(log_path) as f:
        return [json.loads(line) for line in f]


def run_with_npu_double(args, log_path, device_id="0", timeout=600, **env_vars):
    """train.py in a fresh process whose `npu_device` is the test double (events in log_path);
    env_vars are further environment variables (e.g. RANK_SIZE)."""
    env = dict(os.environ, PYTHONPATH=NPU_DOUBLE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               NPU_DOUBLE_LOG=str(log_path), ASCEND_DEVICE_ID=device_id, **env_vars)
    return run_script("train.py", args, timeout, env)


def write_rank_table(path):
    """A rank table with no addresses (the double reads none); returns path."""
    path.write_text(json.dumps({"server_count": "1", "server_list": [], "status": "completed"}))
    return path


def npu_ranks_env(tmp_path, count=2, **env_vars):
    """The environment of each rank of a `count`-rank NPU job launched with a rank table (the
    double's events of rank r in tmp_path/rank<r>.log)."""
    rank_table = write_rank_table(tmp_path / "rank_table.json")
    return [dict(env_vars, RANK_SIZE=str(count), RANK_ID=str(rank), RANK_TABLE_FILE=str(rank_table))
            for rank in range(count)]


def run_npu_ranks(command, tmp_path, rank_envs, timeout=600):
    """Runs `python command...` once per rank at the same time, with the npu_device double (whose
    ranks meet and exchange every collective) and rank_envs[r] in rank r's environment, device r.
    Returns each rank's subprocess.CompletedProcess (output through files: a rank blocked on a full
    pipe would hold the other in a collective); kills what is left after `timeout` s."""
    processes, outputs = [], []
    try:
        for rank, env_vars in enumerate(rank_envs):
            env = dict(os.environ, PYTHONPATH=NPU_DOUBLE + os.pathsep + os.environ.get("PYTHONPATH", ""),
                       NPU_DOUBLE_LOG=str(tmp_path / ("rank%d.log" % rank)), ASCEND_DEVICE_ID=str(rank), **env_vars)
            outputs.append((tmp_path / ("rank%d.out" % rank), tmp_path / ("rank%d.err" % rank)))
            with open(outputs[-1][0], "w") as out, open(outputs[-1][1], "w") as err:
                processes.append(subprocess.Popen([sys.executable] + [str(c) for c in command], cwd=ROOT, env=env,
                                                  stdout=out, stderr=err))
        for p in processes:
            p.wait(timeout=timeout)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [subprocess.CompletedProcess(p.args, p.returncode, out.read_text(), err.read_text())
            for p, (out, err) in zip(processes, outputs)]


@pytest.fixture(scope="session")
def inception_dir(tmp_path_factory):
    """A stand-in of tfgan's Inception module, saved as a TF-Hub-loadable SavedModel."""
    from inception_standin import build
    return build(tmp_path_factory.mktemp("inception") / "module")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("SPLITGAN_CACHE", str(path))
    return path
