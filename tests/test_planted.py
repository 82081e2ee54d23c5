"""A run dir someone else can write to, strings without end, and signals at the wrong moment: a
planted lock or checkpoint list never makes training touch a file outside the run, a run dir removed
under a training stops it, and every refusal is one line (exit 2; 3 for signals)."""
import json
import os
import shutil
import signal

import pytest
import tensorflow as tf

from conftest import TINY, run_script, train_cli
from splitgan_keras import config, faults, runtime
from splitgan_keras.artefacts import checkpoints, rundir_lock
from splitgan_keras.cli import main as cli_main
from splitgan_keras.data import builtin_data, datasets
from splitgan_keras.errors import LINE_CHARS, UserError
from splitgan_keras.evaluate import sources
from splitgan_keras.train import build


def _one_line_error(result, *fragments, status=2):
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == status and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def _planted_lock(run, kind, target):
    run.mkdir()
    lock = run / rundir_lock.LOCK_FILE
    if kind == "symlink":
        lock.symlink_to(target)
    elif kind == "hard link":
        os.link(target, lock)
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()


@pytest.mark.parametrize("kind, says", [("symlink", "a symbolic link"), ("hard link", "(a hard link)"),
                                        ("fifo", "not a regular file"), ("folder", "cannot write into --run-dir")])
def test_a_planted_lock_is_refused_and_what_it_points_to_is_untouched(tmp_path, capsys, kind, says):
    target = tmp_path / "precious.txt"
    target.write_text("the user's notes")
    run = tmp_path / "run"
    _planted_lock(run, kind, target)
    _one_line_error(train_cli(TINY + ["--run-dir", run, "--iterations", 1], capsys), str(run), says)
    assert target.read_text() == "the user's notes"
    assert sorted(os.listdir(run)) == [rundir_lock.LOCK_FILE]  # nothing else was written


def _store(directory, keep=2):
    cfg = config.with_overrides(config.Config(), {"model.width": 8, "model.image_size": 16, "train.batch_size": 4},
                                "test")
    gan = build.build_gan(cfg, builtin_data.make(16, 16), runtime.Runtime("cpu", "float32"))
    return gan, checkpoints.TrainingCheckpoints(str(directory), gan, keep=keep, report=lambda line: None)


def _outside_checkpoint(folder):
    """Files that a state file's entry "<folder>/model" names: the manager would delete them."""
    folder.mkdir()
    for suffix in (".index", ".data-00000-of-00001"):
        (folder / ("model" + suffix)).write_text("someone else's")
    return folder / "model"


@pytest.mark.parametrize("entry", ["absolute", "relative", "through a link", "not a checkpoint name"])
def test_a_checkpoint_list_that_names_files_outside_is_confined_and_they_survive(tmp_path, entry):
    directory = tmp_path / "run" / "checkpoints"
    gan, store = _store(directory)
    for number in (1, 2):
        gan.iteration.assign(number)
        store.save()
    outside = _outside_checkpoint(tmp_path / "elsewhere")
    (directory / "ckpt-0").symlink_to(outside)  # a link inside that points out
    (directory / "notes").write_text("the user's")
    named = {"absolute": str(outside), "relative": "../../elsewhere/model", "through a link": "ckpt-0",
             "not a checkpoint name": "notes"}[entry]
    state = directory / checkpoints.STATE_FILE
    text = state.read_text().replace('all_model_checkpoint_paths: "ckpt-1"',
                                     'all_model_checkpoint_paths: "%s"\nall_model_checkpoint_paths: "ckpt-1"' % named)
    state.write_text(text.replace('model_checkpoint_path: "ckpt-2"', 'model_checkpoint_path: "%s"' % named, 1))
    assert checkpoints.listed(str(directory)) == [str(directory / "ckpt-1"), str(directory / "ckpt-2")]
    reports = []
    gan, store = _store(directory)
    assert store.latest == str(directory / "ckpt-2")
    reported = checkpoints.TrainingCheckpoints(str(directory), gan, keep=2, report=reports.append)
    assert reports == []  # the first store rewrote the list: nothing left to report
    for number in (3, 4, 5):  # each save past keep=2 deletes the oldest entry the manager knows
        gan.iteration.assign(number)
        reported.save()
    assert (tmp_path / "elsewhere" / "model.index").read_text() == "someone else's"
    assert (tmp_path / "elsewhere" / "model.data-00000-of-00001").exists() and (directory / "notes").exists()
    assert checkpoints.listed(str(directory)) == [str(directory / "ckpt-4"), str(directory / "ckpt-5")]


def test_a_run_dir_named_relative_to_the_working_directory_keeps_its_checkpoints(tmp_path, monkeypatch, capsys):
    # As the quick start names it (runs/quickstart): its state file's entries are inside, whatever the spelling.
    monkeypatch.chdir(tmp_path)
    status, out, err = train_cli(TINY + ["--run-dir", "run", "--iterations", 2, "--checkpoint-every", 1,
                                         "--stop-at", 1], capsys)
    assert status == 0, err
    assert checkpoints.listed("run/checkpoints") == [str(tmp_path / "run" / "checkpoints" / "ckpt-1")]
    status, out, err = train_cli(TINY + ["--run-dir", "run", "--iterations", 2, "--checkpoint-every", 1,
                                         "--resume"], capsys)
    assert status == 0 and "resumed from" in out and "left out" not in out + err, out + err
    assert checkpoints.listed("run/checkpoints")[-1] == str(tmp_path / "run" / "checkpoints" / "ckpt-2")


def test_the_confinement_is_reported_and_a_state_of_only_outside_entries_is_removed(tmp_path):
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    outside = _outside_checkpoint(tmp_path / "elsewhere")
    (directory / checkpoints.STATE_FILE).write_text(
        'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' % (outside, outside))
    reports = []
    checkpoints.confine_state(str(directory), reports.append)
    assert len(reports) == 1 and str(outside) in reports[0] and "left out" in reports[0]
    assert not (directory / checkpoints.STATE_FILE).exists() and checkpoints.listed(str(directory)) == []
    assert (tmp_path / "elsewhere" / "model.index").exists()


@pytest.mark.slow
def test_eval_takes_the_newest_checkpoint_that_still_exists_when_training_replaces_the_one_chosen(
        tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert train_cli(TINY + ["--run-dir", run, "--iterations", 3, "--checkpoint-every", 1,
                             "--set", "output.keep_checkpoints=1"], capsys)[0] == 0
    directory = run / "checkpoints"
    chosen = []
    read = sources._read_run_checkpoint

    def retention_meanwhile(run_dir, checkpoint):
        """What a training that keeps one checkpoint does as eval.py reads: ckpt-4 in, ckpt-3 out."""
        if not chosen:
            chosen.append(checkpoint)
            for name in os.listdir(directory):
                if name.startswith("ckpt-3."):
                    os.rename(directory / name, directory / name.replace("ckpt-3", "ckpt-4"))
            tf.compat.v1.train.update_checkpoint_state(str(directory), str(directory / "ckpt-4"))
        return read(run_dir, checkpoint)

    monkeypatch.setattr(sources, "_read_run_checkpoint", retention_meanwhile)
    loaded = sources.load(str(run))
    assert chosen == [str(directory / "ckpt-3")] and loaded.record["checkpoint"] == str(directory / "ckpt-4")
    os.remove(directory / "ckpt-4.index")
    with pytest.raises(UserError, match="ckpt-4 was removed while it was read"):
        sources._from_run_checkpoint(str(run), str(directory / "ckpt-4"))


@pytest.mark.slow
def test_a_run_dir_removed_during_training_stops_it_at_the_next_checkpoint(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    point = faults.point

    def remove_the_run_dir(name):
        if name == "iteration.end" and os.path.exists(run / "checkpoints" / "ckpt-2.index"):
            shutil.rmtree(run)
        point(name)

    monkeypatch.setattr(faults, "point", remove_the_run_dir)
    _one_line_error(train_cli(TINY + ["--run-dir", run, "--iterations", 6, "--checkpoint-every", 1], capsys),
                    "--run-dir %s lost its config.json and .lock while this training ran" % run)
    assert not (run / "checkpoints").exists() and not (run / "export").exists()


@pytest.mark.parametrize("args", [
    ["--run-dir", "r" * 10 ** 6],
    ["--set", "output.run_dir=" + "r" * 10 ** 6],
    ["--set", "data.data_dir=" + "d" * 10 ** 6, "--dataset", "cifar10"],
    ["--set", "eval.metrics=" + json.dumps(["is50k"] * 5000)],
    ["--set", "x" * 10 ** 6 + "=1"],
    ["--split-at", "1," * 10 ** 5],
])
def test_strings_without_end_are_refused_with_a_bounded_line(tmp_path, capsys, args):
    status, _, err = train_cli(TINY + args + ["--dry-run"], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and len(err) < LINE_CHARS + 100, err[:300]


def test_a_config_that_gives_a_key_twice_or_a_nan_is_refused(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text('{"train": {"iterations": 10, "iterations": 20}}')
    _one_line_error(train_cli(["--config", path, "--dry-run"], capsys), "config file %s" % path,
                    "key 'iterations' is given twice")
    path.write_text('{"train": {"lr": NaN}}')
    _one_line_error(train_cli(["--config", path, "--dry-run"], capsys), "NaN is not a JSON number")


@pytest.mark.parametrize("host", ["host\nname", "host name", "http://host", "", "-host", "[::1", "h" * 300])
def test_a_tf_config_host_that_is_not_a_host_name_or_address_is_refused(tmp_path, capsys, monkeypatch, host):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["%s:2222" % host, "localhost:2223"]},
                                                "task": {"type": "worker", "index": 1}}))
    _one_line_error(train_cli(TINY + ["--run-dir", tmp_path / "r", "--dry-run"], capsys),
                    "not host:port (a host name, an IPv4 address or an [IPv6] address)")


def _finishing_signals(tmp_path, signals):
    run = tmp_path / "run"
    env = dict(os.environ, SPLITGAN_KILL_AT=",".join("export.staged:1:" + name for name in signals))
    return run, run_script("train.py", TINY + ["--run-dir", run, "--iterations", 2], env=env)


@pytest.mark.slow
def test_a_signal_while_the_export_is_written_lets_it_finish_then_stops_resumably(tmp_path):
    run, stopped = _finishing_signals(tmp_path, ["SIGTERM"])
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    assert "stopped by SIGTERM after iteration 2" in stopped.stdout and "Traceback" not in stopped.stderr
    assert not [name for name in os.listdir(run) if name.startswith(".") and name != ".lock"]  # nothing staged
    assert tf.saved_model.load(str(run / "export")).signatures["serving_default"] is not None
    resumed = run_script("train.py", ["--run-dir", run, "--resume"])
    assert resumed.returncode == 0 and "| export %s" % (run / "export") in resumed.stdout, resumed.stderr[-2000:]


@pytest.mark.slow
def test_ctrl_c_twice_while_the_export_is_written_is_one_line_and_leaves_nothing_staged(tmp_path):
    run, stopped = _finishing_signals(tmp_path, ["SIGINT", "SIGINT"])
    ours = stopped.stderr.strip().splitlines()[-1]  # TensorFlow's C++ start-up lines come before
    assert stopped.returncode == 3 and "Traceback" not in stopped.stderr, stopped.stderr[-2000:]
    assert ours.startswith("error: stopped at once by a signal") and \
        ours.endswith("the newest checkpoint in %s continues with --resume" % run)
    assert sorted(name for name in os.listdir(run) if name.startswith(".")) == []  # no staging, lock released
    assert not (run / "export").exists() and (run / "checkpoints" / "ckpt-2.index").exists()  # resumable


def test_sigterm_outside_the_training_loop_ends_the_command_in_one_line(tmp_path, capsys, monkeypatch):
    """Before training starts (here: while the data set loads) SIGTERM ends train.py as Ctrl-C does."""
    monkeypatch.setattr(datasets, "load", lambda cfg: os.kill(os.getpid(), signal.SIGTERM))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        cli_main.sigterm_as_ctrl_c()
        result = train_cli(TINY + ["--run-dir", tmp_path / "run", "--iterations", 1], capsys)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _one_line_error(result, "stopped at once by a signal", status=3)
    assert not (tmp_path / "run").exists()  # the lock's folder, made by this start, is gone with it
