"""Data-parallel training: R replicas compute what one device computes (MirroredStrategy over the
two logical CPU devices conftest makes), resume across replica counts, and clear refusals."""
import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import (NPU_DOUBLE, ROOT, TINY, npu_events, npu_ranks_env, run_npu_ranks, train_cli,
                      write_rank_table)
from splitgan_keras import launch, replicas as replicas_lib
from splitgan_keras.artefacts import sampling
from splitgan_keras.evaluate.metrics import inception
from splitgan_keras.models import networks
from splitgan_keras.parity import records as parity
from splitgan_keras.split import features as features_lib

# Six iterations across a split (after iteration 2) on the tiny model, with a moving average.
SPLIT_RUN = TINY + ["--iterations", 6, "--split-at", 2, "--split-above", 3, "--ema-decay", 0.9]
# Replicas average their gradients in another order than one device sums them. Where a gradient
# entry is near zero, that rounding can flip the sign of Adam's normalised update, so a weight may
# move by up to one step (the learning rate, 2e-4) differently; everything else agrees to float32.
WEIGHT_ATOL = 3e-4


def _checkpoint(run_dir, number):
    reader = tf.train.load_checkpoint(os.path.join(str(run_dir), "checkpoints", "ckpt-%d" % number))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith(("save_counter", "_CHECKPOINTABLE"))}


def _assert_same_run(a, b):
    assert a.keys() == b.keys()
    for name in a:
        if "example_labels" in name or "class_state" in name or "iteration" in name:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # the split decided the same
        else:
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)


def _evaluated_at_the_end(inception_dir):
    """An Inception Score of 20 samples after the last iteration (the stand-in module), kept as best.json."""
    return ["--eval-every", 6, "--eval-metrics", "is20", "--inception", inception_dir,
            "--set", "eval.best_after=0"]


def _best_score(run_dir):
    return json.loads((run_dir / "checkpoints" / "best" / "best.json").read_text())["value"]


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory, inception_dir):
    """SPLIT_RUN on one device, evaluated at the end: the run dir every replica layout is compared with."""
    run_dir = tmp_path_factory.mktemp("one_device") / "run"
    assert train_cli(SPLIT_RUN + _evaluated_at_the_end(inception_dir) + ["--run-dir", run_dir])[0] == 0
    return run_dir


@pytest.mark.slow
def test_two_replicas_train_what_one_device_trains_across_a_split(one_device_run, tmp_path, capsys):
    status, out, err = train_cli(SPLIT_RUN + ["--run-dir", tmp_path / "two", "--replicas", 2], capsys)
    assert status == 0, err
    assert "2 replicas (MirroredStrategy" in out and "split after iteration 2: 10 -> 20 classes" in out
    _assert_same_run(_checkpoint(one_device_run, 6), _checkpoint(tmp_path / "two", 6))
    records = [json.loads((run / "splits" / "iteration_0000002" / "hierarchy.json").read_text())
               for run in (one_device_run, tmp_path / "two")]
    assert records[0]["classes"] == records[1]["classes"]


@pytest.mark.slow
def test_parity_records_of_one_and_two_replicas_agree_at_fp32_tolerance(tmp_path, capsys):
    common = TINY + ["--iterations", 4, "--parity-iterations", 4]
    for n in (1, 2):
        assert train_cli(common + ["--run-dir", tmp_path / str(n), "--replicas", n,
                                   "--parity-record", tmp_path / ("%d.json" % n)], capsys)[0] == 0
    a, b = (parity.read(str(tmp_path / ("%d.json" % n))) for n in (1, 2))
    assert (a["replicas"], b["replicas"]) == (1, 2)
    rows, notes, ok = parity.compare(a, b, None, None)
    assert ok and max(r.largest for r in rows) < 1e-4, parity.format_report("1", a, "2", b, rows, notes, ok)
    assert "2 replica(s)" in parity.format_report("1", a, "2", b, rows, notes, ok)


def _mirrored(count=2):
    names = [d.name for d in tf.config.list_logical_devices("CPU")][:count]
    return replicas_lib.Replicas(count, tuple(range(count)), tf.distribute.MirroredStrategy(names))


def test_a_batch_pass_over_replicas_returns_every_batch_in_order():
    batches = [(np.full((3, 2), i, np.float32), np.arange(3) + 10 * i) for i in range(5)]  # 5: a group filled up
    outputs = list(_mirrored().batch_runner(lambda x, y: {"sum": x * 2, "ids": y})(iter(batches)))
    assert len(outputs) == 5
    for i, out in enumerate(outputs):
        np.testing.assert_array_equal(out["sum"], np.full((3, 2), 2 * i))
        np.testing.assert_array_equal(out["ids"], np.arange(3) + 10 * i)


def test_the_split_feature_pass_over_two_replicas_equals_one_device():
    images = np.random.default_rng(3).integers(0, 256, (23, 16, 16, 3), dtype=np.uint8)  # 5 batches, the last short
    replicas = _mirrored()
    with replicas.scope():
        critic = networks.Critic(width=8)
        critic(tf.zeros((1, 16, 16, 3)))
    sharded = features_lib.FeaturePass(critic, seed=4, batch=5, replicas=replicas)(images, iteration=7)
    single = features_lib.FeaturePass(critic, seed=4, batch=5)(images, iteration=7)
    np.testing.assert_allclose(sharded, single, rtol=1e-6, atol=1e-7)
    assert sharded.shape == (23, 8) and np.abs(sharded).sum() > 0


def test_inception_passes_over_two_replicas_equal_one_device(inception_dir):
    images = np.random.default_rng(5).integers(0, 256, (21, 32, 32, 3), dtype=np.uint8)  # 3 batches of 8, padded
    sharded = inception.InceptionNetwork(inception_dir, batch=8, replicas=_mirrored()).outputs(images)
    single = inception.InceptionNetwork(inception_dir, batch=8).outputs(images)
    for ours, theirs in zip(sharded, single):
        assert ours.shape == theirs.shape and ours.shape[0] == 21
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_samples_over_two_replicas_equal_one_device():
    replicas = _mirrored()
    with replicas.scope():
        generator = networks.Generator(width=8, image_size=16, initial_classes=10).build_variables()
    # 250 samples: batches of 84, 83 and 83, so one group ends early where the shape changes.
    sharded, labels = sampling.uniform_samples(sampling.GeneratorSource(generator, replicas), 250, seed=3)
    single, single_labels = sampling.uniform_samples(sampling.GeneratorSource(generator), 250, seed=3)
    np.testing.assert_array_equal(labels, single_labels)
    assert sharded.shape == (250, 16, 16, 3) and sharded.std() > 0
    assert np.abs(sharded.astype(int) - single).max() <= 1  # one level of float rounding


@pytest.mark.slow
def test_resume_with_another_replica_count(one_device_run, tmp_path, capsys):
    run = tmp_path / "moved"
    assert train_cli(SPLIT_RUN + ["--run-dir", run, "--replicas", 2, "--stop-at", 4], capsys)[0] == 0
    status, out, err = train_cli(["--run-dir", run, "--resume", "--replicas", 1], capsys)
    assert status == 0, err
    _assert_same_run(_checkpoint(one_device_run, 6), _checkpoint(run, 6))


def test_batches_that_do_not_divide_over_the_replicas_are_refused(tmp_path, capsys):
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "r", "--iterations", 2, "--batch-size", 6,
                                         "--replicas", 4], capsys)
    assert status == 2 and "--batch-size (train.batch_size) 6 does not divide evenly over 4 replicas" in err
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "s", "--iterations", 2, "--batch-size", 6,
                                         "--replicas", 3], capsys)
    assert status == 2 and "--replicas 3 on the CPU needs 3 logical CPU devices" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_two_npu_ranks_train_what_one_device_trains_and_only_rank_0_writes(one_device_run, tmp_path, inception_dir):
    # The double's ranks exchange every collective (its HCCL), in fp32 as the CPU computes.
    run_dir = tmp_path / "run"
    args = SPLIT_RUN + _evaluated_at_the_end(inception_dir) + ["--run-dir", run_dir, "--device", "npu",
                                                                "--npu-precision-mode", "must_keep_origin_dtype"]
    results = run_npu_ranks(["train.py"] + args, tmp_path, npu_ranks_env(tmp_path), timeout=300)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    assert "2 NPU ranks (this is rank 1), HCCL" in results[1].stdout
    _assert_same_run(_checkpoint(one_device_run, 6), _checkpoint(run_dir, 6))
    assert sorted(os.listdir(run_dir)) == sorted(os.listdir(one_device_run))  # one writer
    assert _best_score(run_dir) == pytest.approx(_best_score(one_device_run), rel=1e-3)
    for rank in (0, 1):
        events = npu_events(tmp_path / ("rank%d.log" % rank))
        kinds = [e["event"] for e in events]
        opened = next(e for e in events if e["event"] == "open")
        assert (opened["workers_num"], opened["worker_id"], opened["device_id"]) == (2, rank, rank)
        broadcast = kinds.index("broadcast")
        assert kinds.index("as_default") < broadcast < kinds.index("all_reduce")  # after the networks are built
        assert events[broadcast]["root_rank"] == 0 and events[broadcast]["variables"] > 20
        reduced = [e for e in events if e["event"] == "all_reduce"]
        # every iteration: the generator's and each critic step's gradients, and the logs
        assert len(reduced) == 6 * (2 + 2) and {e["reduction"] for e in reduced} == {"mean"}


def test_each_npu_rank_reads_its_own_shard():
    from splitgan_keras.replicas import Replicas
    made = []
    Replicas(2, (1,), hccl=object(), is_chief=False).distribute(lambda shards, count: made.append((shards, count)))
    assert made == [((1,), 2)]


@contextlib.contextmanager
def _workers(args, count=2):
    """`count` train.py processes of one MultiWorkerMirroredStrategy job on localhost (TF_CONFIG);
    yields them (Popen, text stdout and stderr) and always kills what is left."""
    hosts = ["localhost:%d" % p for p in launch.free_ports(count)]
    processes = []
    try:
        for index in range(count):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": hosts},
                                                         "task": {"type": "worker", "index": index}}))
            processes.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + [str(a) for a in args],
                                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True))
        yield processes
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.communicate()


@pytest.mark.slow
def test_two_worker_processes_train_what_one_process_trains(one_device_run, tmp_path, inception_dir):
    # The split's feature pass and the Inception pass of the evaluation are shared by the workers.
    with _workers(SPLIT_RUN + _evaluated_at_the_end(inception_dir) + ["--run-dir", tmp_path / "two"]) as (chief, other):
        outputs = [p.communicate(timeout=300) for p in (chief, other)]
    for p, (out, err) in zip((chief, other), outputs):
        assert p.returncode == 0, err[-3000:]
    assert "2 replicas in 2 processes (TF_CONFIG, this is worker 0)" in outputs[0][0]
    assert "the chief writes the run dir" in outputs[1][0]
    _assert_same_run(_checkpoint(one_device_run, 6), _checkpoint(tmp_path / "two", 6))
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(one_device_run))  # one writer
    assert _best_score(tmp_path / "two") == pytest.approx(_best_score(one_device_run), rel=1e-3)


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_other_within_the_timeout(tmp_path):
    args = TINY + ["--run-dir", tmp_path / "run", "--iterations", 100000, "--log-every", 1,
                   "--set", "runtime.collective_timeout=20"]
    with _workers(args) as (chief, other):
        for line in chief.stdout:  # training has started on both
            if line.startswith("iteration 2/"):
                break
        other.kill()
        started = time.monotonic()
        out, err = chief.communicate(timeout=120)
        waited = time.monotonic() - started
    assert chief.returncode not in (0, None) and waited < 90
    assert "another process of the job" in err or "heartbeat" in err.lower(), err[-3000:]


def _launch_npu_job(tmp_path, args, **env_vars):
    rank_table = write_rank_table(tmp_path / "hccl_2p.json")
    env = dict(os.environ, PYTHONPATH=NPU_DOUBLE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               NPU_DOUBLE_LOG=str(tmp_path / "npu.log"), RANK_TABLE_FILE=str(rank_table), RANK_SIZE="2",
               FIRST_DEVICE="4", PYTHON=sys.executable, LOG_DIR=str(tmp_path / "logs"), **env_vars)
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "train_npu_8p.sh")] + [str(a) for a in args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_npu_launch_script_runs_a_process_per_device(tmp_path):
    result = _launch_npu_job(tmp_path, TINY + ["--run-dir", tmp_path / "run", "--iterations", 2])
    assert result.returncode == 0, result.stderr + result.stdout
    logs = {r: (tmp_path / "logs" / ("rank_%d.log" % r)).read_text() for r in (0, 1)}
    assert "this is rank 0" in logs[0] and "this is rank 1" in logs[1] and "done:" in logs[1]
    opened = {(e["device_id"], e["worker_id"]) for e in npu_events(tmp_path / "npu.log") if e["event"] == "open"}
    assert opened == {(4, 0), (5, 1)}
    assert (tmp_path / "run" / "export" / "saved_model.pb").exists()


@pytest.mark.slow
def test_a_failing_rank_stops_the_npu_job_with_its_status(tmp_path):
    result = _launch_npu_job(tmp_path, TINY + ["--run-dir", tmp_path / "run", "--iterations", 100000],
                             NPU_DOUBLE_FAIL_RANK="1")
    assert result.returncode == 2 and "a rank failed with status 2; stopping the others" in result.stderr
    assert "the adapter could not open device 5" in (tmp_path / "logs" / "rank_1.log").read_text()
    assert "done:" not in (tmp_path / "logs" / "rank_0.log").read_text()
