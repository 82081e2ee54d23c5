"""What a run survives: kills at chosen moments, a torn checkpoint, SIGTERM/SIGINT, non-finite
losses, a full or unwritable disk."""
import errno
import json
import os
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, TINY, run_script, run_with_npu_double, train_cli
from splitgan_keras import files
from splitgan_keras.train import callbacks

# Split after iteration 2, a checkpoint after every iteration, deterministic ops.
RUN = TINY + ["--iterations", 6, "--split-at", 2, "--split-above", 3, "--checkpoint-every", 1, "--deterministic"]


def _train_process(args, kill_at=None):
    env = dict(os.environ)
    env.pop("SPLITGAN_KILL_AT", None)
    if kill_at:
        env["SPLITGAN_KILL_AT"] = kill_at
    return run_script("train.py", args, env=env)


def _state(run_dir, number):
    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", "ckpt-%d" % number))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith(("save_counter", "_CHECKPOINTABLE"))}


@pytest.mark.slow
def test_kills_at_any_moment_then_resume_ends_in_the_same_weights(tmp_path):
    reference, run = tmp_path / "reference", tmp_path / "run"
    done = _train_process(RUN + ["--run-dir", reference])
    assert done.returncode == 0, done.stderr[-2000:]

    killed = _train_process(RUN + ["--run-dir", run], kill_at="split.applied")  # mid-split
    assert killed.returncode == -signal.SIGKILL
    killed = _train_process(["--run-dir", run, "--resume"], kill_at="checkpoint.written:2")  # mid-checkpoint
    assert killed.returncode == -signal.SIGKILL and "split after iteration 2" in killed.stdout
    torn = run / "checkpoints" / "ckpt-4.data-00000-of-00001"  # as if the kill tore the newest write
    torn.write_bytes(torn.read_bytes()[:torn.stat().st_size // 2])
    killed = _train_process(["--run-dir", run, "--resume"], kill_at="iteration.end")  # mid-run
    assert killed.returncode == -signal.SIGKILL
    assert "ckpt-4 cannot be used" in killed.stdout and "resumed from %s" % (run / "checkpoints" / "ckpt-3") in killed.stdout
    killed = _train_process(["--run-dir", run, "--resume"], kill_at="export.staged")  # mid-export
    assert killed.returncode == -signal.SIGKILL
    finished = _train_process(["--run-dir", run, "--resume"])
    assert finished.returncode == 0, finished.stderr[-2000:]

    expected, actual = _state(reference, 6), _state(run, 6)
    assert expected.keys() == actual.keys() and len(expected) > 100
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    assert os.listdir(run / "splits") == ["iteration_0000002"]
    exported = tf.saved_model.load(str(run / "export"))  # kept: TF 2.6 frees its variables with it
    assert exported.signatures["class_hierarchy"]()["num_classes"] == 20
    assert not [p for p in os.listdir(run) if p.startswith(".")]  # no staging folders left


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_and_exits_cleanly(tmp_path, signum):
    run = tmp_path / "run"
    # Without --deterministic, in a process of its own: the default path, as users run it (the suite enables op
    # determinism in its own process).
    args = TINY + ["--run-dir", run, "--iterations", 2000, "--log-every", 1]
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + [str(a) for a in args],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # wait for training to be under way, then preempt it
        if line.startswith("iteration 3/"):
            process.send_signal(signum)
            break
    out, err = process.communicate(timeout=300)
    assert process.returncode == 3, err[-2000:]
    message = [line for line in out.splitlines() if line.startswith("stopped by")][0]
    assert signal.Signals(signum).name in message
    number = int(message.split("after iteration ")[1].split(";")[0])
    assert number >= 3 and (run / "checkpoints" / ("ckpt-%d.index" % number)).exists()
    # The printed command works as printed, from an environment where no venv is active.
    command = shlex.split(message.split("continue with: ")[1])
    assert command[:2] == [sys.executable, os.path.join(ROOT, "train.py")] and command[-1] == "--resume"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    resumed = subprocess.run(command + ["--stop-at", str(number + 1)], cwd=ROOT, capture_output=True, text=True,
                             timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout and "continue with: " in resumed.stdout


@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_without_saving_it(tmp_path, capsys, monkeypatch):
    # Right after the checkpoint of iteration 3 is written, a critic weight turns NaN (as a hardware
    # fault or a diverging run would leave it): iteration 4 must stop the run before anything saves it.
    save = callbacks.PeriodicCheckpoint.on_train_batch_end

    def save_then_poison(self, batch, logs=None):
        save(self, batch, logs)
        if self.completed() == 3:
            kernel = self.model.critic.score_head.kernel
            kernel.assign(tf.fill(kernel.shape, float("nan")))

    monkeypatch.setattr(callbacks.PeriodicCheckpoint, "on_train_batch_end", save_then_poison)
    run = tmp_path / "run"
    status, out, err = train_cli(TINY + ["--run-dir", run, "--iterations", 10, "--checkpoint-every", 1], capsys)
    assert status == 4
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: non-finite ") and "in iteration 4;" in line
    assert "the last good checkpoint is %s" % (run / "checkpoints" / "ckpt-3") in line
    assert not (run / "checkpoints" / "ckpt-4.index").exists()
    diagnostic = json.loads((run / "nonfinite.json").read_text())
    assert [r["iteration"] for r in diagnostic["recent_iterations"]] == [1, 2, 3, 4]
    assert diagnostic["learning_rate"] > 0 and diagnostic["last_good_checkpoint"].endswith("ckpt-3")
    state = _state(run, 3)
    assert all(np.all(np.isfinite(v)) for v in state.values() if np.issubdtype(np.asarray(v).dtype, np.floating))


@pytest.mark.slow
def test_steps_skipped_by_loss_scaling_are_counted_not_errors(tmp_path):
    # float16 with the NPU's loss-scale optimizer (through the test double): the first scales overflow.
    result = run_with_npu_double(TINY + ["--run-dir", tmp_path / "run", "--iterations", 4, "--device", "npu",
                                         "--precision", "mixed"], tmp_path / "npu.log")
    assert result.returncode == 0, result.stderr[-2000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("steps skipped by dynamic loss scaling")][0]
    assert "d/skipped" in line


def _fail_sample_grids(monkeypatch, error):
    real = files.write_bytes

    def write_bytes(path, data):
        if path.endswith(".png") and "samples" in path:
            raise error
        return real(path, data)

    monkeypatch.setattr(files, "write_bytes", write_bytes)


@pytest.mark.parametrize("error, reason", [
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (OSError(errno.EACCES, "Permission denied"), "Permission denied")])
@pytest.mark.slow
def test_a_full_or_unwritable_disk_is_a_clear_error_and_resume_works(tmp_path, capsys, monkeypatch, error, reason):
    run = tmp_path / "run"
    _fail_sample_grids(monkeypatch, error)
    status, out, err = train_cli(TINY + ["--run-dir", run, "--iterations", 6, "--checkpoint-every", 2,
                                         "--sample-every", 3], capsys)
    assert status == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: cannot write into --run-dir %s (" % run) and reason in line and "--resume" in line
    assert "ckpt-2" in line  # the grid after iteration 3 failed; the checkpoint after 2 is the last complete one
    monkeypatch.undo()
    status, out, err = train_cli(["--run-dir", run, "--resume"], capsys)
    assert status == 0, err
    assert "resumed from %s" % (run / "checkpoints" / "ckpt-2") in out


def test_a_run_dir_inside_a_file_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status, out, err = train_cli(TINY + ["--run-dir", blocker / "run", "--iterations", 1], capsys)
    line = err.strip().splitlines()[-1]
    assert status == 2 and line.startswith("error: cannot write into --run-dir")
    assert line.endswith("run the same command again")  # nothing was saved that --resume could continue
