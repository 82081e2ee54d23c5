"""The project's boundaries as a careful user or an attacker meets them: a run dir in use, stale
launcher variables, a folder of the user's, temporary names, and bad values, files and
environments (listed, then fuzzed with hypothesis). Every refusal is one line and exit 2."""
import json
import os
import string
from unittest import mock

import numpy as np
import tensorflow as tf
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import TINY, train_cli
from splitgan_keras import config, files, runtime
from splitgan_keras.artefacts import checkpoints, rundir_lock
from splitgan_keras.cli import flags as cli_flags, main as cli_main
from splitgan_keras.data import builtin_data
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import inception
from splitgan_keras.train import build


def _one_line_error(result, *fragments):
    status, _, err = result
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.slow
def test_a_run_dir_in_use_is_refused_naming_the_holder_and_free_once_released(tmp_path, capsys):
    run = tmp_path / "run"
    holder = rundir_lock.RunDirLock(str(run))
    holder.acquire()
    try:
        _one_line_error(train_cli(TINY + ["--run-dir", run, "--iterations", 1], capsys),
                        "--run-dir %s is in use by process %d on " % (run, os.getpid()), "wait until it ends")
        assert os.listdir(run) == [rundir_lock.LOCK_FILE]
        _one_line_error(train_cli(["--run-dir", run, "--resume"], capsys), "is in use by process %d" % os.getpid())
    finally:
        holder.release()
    assert not run.exists()  # the lock made the folder and nothing else used it
    assert train_cli(TINY + ["--run-dir", run, "--iterations", 1], capsys)[0] == 0
    assert not (run / rundir_lock.LOCK_FILE).exists()


@pytest.mark.slow
def test_stale_npu_rank_variables_do_not_skip_the_fresh_run_check(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert train_cli(TINY + ["--run-dir", run, "--iterations", 2, "--checkpoint-every", 1], capsys)[0] == 0
    before = {name: (run / name).read_bytes() for name in ("config.json", "checkpoints/checkpoint")}
    # Left over from an NPU job; this process runs on the CPU, so the runtime says it is the chief.
    monkeypatch.setenv("RANK_SIZE", "2")
    monkeypatch.setenv("RANK_ID", "1")
    _one_line_error(train_cli(TINY + ["--run-dir", run, "--iterations", 1, "--width", 16], capsys),
                    "--run-dir %s already holds a run" % run)
    assert {name: (run / name).read_bytes() for name in before} == before


def test_a_fresh_run_refuses_a_folder_of_the_users_and_keeps_it(tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / "export").mkdir(parents=True)
    (folder / "export" / "saved_model.pb").write_bytes(b"the user's model")
    _one_line_error(train_cli(TINY + ["--run-dir", folder, "--iterations", 1], capsys),
                    "--run-dir %s is not empty and holds no run" % folder)
    assert sorted(os.listdir(folder)) == ["export"]
    assert (folder / "export" / "saved_model.pb").read_bytes() == b"the user's model"


def test_only_the_projects_own_temporary_names_are_cleared_beside_a_target(tmp_path):
    target = tmp_path / "notes.txt"
    (tmp_path / ".notes.txt.orig").write_text("the user's backup")
    (tmp_path / ".notes.txt.swp").write_text("an editor's")
    (tmp_path / ".notes.txt.splitgan-tmp-dead").write_text("a write a crash cut short")
    files.write_bytes(str(target), b"new")
    assert sorted(os.listdir(tmp_path)) == [".notes.txt.orig", ".notes.txt.swp", "notes.txt"]
    assert target.read_bytes() == b"new"


def test_a_save_replaces_a_checkpoint_of_the_same_number_that_another_run_left(tmp_path):
    cfg = config.with_overrides(config.Config(), {"model.width": 8, "model.image_size": 16, "train.batch_size": 4},
                                "test")
    gan = build.build_gan(cfg, builtin_data.make(16, 16), runtime.Runtime("cpu", "float32"))
    old = checkpoints.TrainingCheckpoints(str(tmp_path), gan, keep=3)
    gan.iteration.assign(2)
    path = old.save()
    relabelled = (gan.example_labels.numpy() + 1) % 10  # another state at the same iteration: a new run
    gan.example_labels.assign(relabelled)
    new = checkpoints.TrainingCheckpoints(str(tmp_path), gan, keep=3)
    assert new.save() == path
    np.testing.assert_array_equal(checkpoints.read_example_labels(path), relabelled)
    assert old.save() == path  # what this object saved at this number is not written twice


def test_tf_hub_downloads_go_to_the_users_cache_not_a_shared_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("SPLITGAN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="cannot load the Inception module"):
        inception.load_module("https://splitgan-keras.invalid/inception/1")  # no network needed to fail
    assert os.environ["TFHUB_CACHE_DIR"] == str(tmp_path / "cache" / "tfhub")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "chosen"))
    with pytest.raises(UserError):
        inception.load_module("https://splitgan-keras.invalid/inception/1")
    assert os.environ["TFHUB_CACHE_DIR"] == str(tmp_path / "chosen")  # the user's choice stands


@pytest.mark.parametrize("args, message", [
    (["--samples", "4", "--out", "{folder}"], "--out {folder} is a folder that holds other files (keep.txt)"),
    (["--class-chart", "{folder}", "--metrics", "ifid10_train"], "--class-chart {folder} is a folder"),
    (["--grid", "{folder}"], "--grid {folder} is a folder"),
    (["--export-to", "{folder}"], "--export-to {folder} exists and is not an exported generator"),
    (["--grid", "g.png", "--per-class", "0"], "--per-class must lie in 1..1000, got 0"),
])
def test_eval_refuses_outputs_that_would_clobber_a_folder(tmp_path, capsys, args, message):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("the user's")
    status = cli_main.main_eval([str(tmp_path / "run")] + [a.format(folder=folder) for a in args])
    _one_line_error((status, "", capsys.readouterr().err), message.format(folder=folder))
    assert os.listdir(folder) == ["keep.txt"]


# (command line, environment, what the one line must say)
BAD_INPUTS = [
    (["--seed", "-1"], {}, "--seed (train.seed) must lie in 0..2147483647"),
    (["--image-size", "800000"], {}, "--image-size (model.image_size) must lie in 8..1024"),
    (["--builtin-size", "100000000000"], {}, "--builtin-size (data.builtin_size) must lie in"),
    (["--set", "train.learning_rate=inf"], {}, "train.learning_rate"),
    (["--set", "train.adam_epsilon=-1"], {}, "train.adam_epsilon"),
    (["--set", "train.gp_weight=nan"], {}, "train.gp_weight"),
    (["--set", "train.iterations=1e23"], {}, "--iterations (train.iterations)"),
    (["--set", "output.run_dir=a\0b"], {}, "output.run_dir"),
    (["--config", "a\r\nb.json"], {}, "config file a\\r\\nb.json does not exist"),
    ([], {"TF_CONFIG": "{not json"}, "TF_CONFIG in the environment is not valid JSON"),
    ([], {"TF_CONFIG": "[1, 2]"}, "TF_CONFIG in the environment is a JSON list, not an object"),
    ([], {"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": "x"}})},
     "has task index 'x'"),
    ([], {"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:99999"]}, "task": {"type": "worker", "index": 0}})},
     "'b:99999' among the worker addresses, not host:port (a host name, an IPv4 address or an [IPv6] address) with a port in 1..65535"),
    ([], {"TF_CONFIG": json.dumps({"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}})},
     "names task type 'ps'"),
    ([], {"RANK_SIZE": "abc"}, "RANK_SIZE='abc' in the environment: expected a whole number"),
    ([], {"RANK_SIZE": "2", "RANK_ID": "2"}, "RANK_ID=2 in the environment must be below RANK_SIZE=2"),
]


@pytest.mark.parametrize("args, env, message", BAD_INPUTS)
def test_bad_values_and_environments_are_one_line(tmp_path, capsys, args, env, message):
    with mock.patch.dict(os.environ, env):
        _one_line_error(train_cli(["--dry-run", "--run-dir", tmp_path / "run"] + args, capsys), message)
    assert not (tmp_path / "run").exists()


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        train_cli(["--builtin-size", "1e11"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--builtin-size: invalid int value: '1e11'" in err[0], err


def test_a_run_whose_config_is_not_an_object_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("[1, 2, 3]")
    _one_line_error(train_cli(["--run-dir", tmp_path / "run", "--resume"], capsys),
                    "must hold a JSON object of sections, not a list")


# --- fuzzing: whatever comes in, the command ends in exit 0 or 2 and never in a traceback ---

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
_text = st.text(alphabet=string.printable + "\0é", max_size=12)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=12)
_number = st.one_of(st.integers(min_value=-2 ** 70, max_value=2 ** 70).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr), _text)


def _ends_cleanly(run, argv, capsys):
    """Runs a command in this process; any exception other than argparse's exit fails the test."""
    try:
        status = run([str(a) for a in argv])
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    assert status in (0, 2), err
    if status == 2:
        assert len(err.strip().splitlines()) == 1, err


def _train_flags():
    """Every option of train.py that takes a value, by its long name."""
    options = [(flags, keywords) for flags, keywords in cli_flags.TRAIN_COMMAND_OPTIONS
               if keywords.get("action") != "store_true"]
    options += [(f.metadata["flags"], {}) for _, section_type in config.sections()
                for f, tp in config.fields(section_type) if tp is not bool]
    return sorted(flag for flags, _ in options for flag in flags if flag.startswith("--"))


@FUZZ
@given(section=_text, key=_text, value=_json, whole=_json, as_object=st.booleans())
def test_fuzzed_config_files(tmp_path, capsys, section, key, value, whole, as_object):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({section or "train": {key or "iterations": value}} if as_object else whole))
    _ends_cleanly(cli_main.main_train, ["--config", path, "--dry-run"], capsys)


@FUZZ
@given(choices=st.lists(st.tuples(st.sampled_from(_train_flags()), _number), min_size=1, max_size=4))
def test_fuzzed_train_flags(tmp_path, capsys, choices):
    argv = ["--dry-run", "--run-dir", tmp_path / "r"] + [x for pair in choices for x in pair]
    _ends_cleanly(cli_main.main_train, argv, capsys)


@FUZZ
@given(tf_config=st.one_of(_json.map(json.dumps), _text), rank_size=_number, rank_id=_number,
       cluster=st.lists(st.one_of(_text, st.integers(0, 70000).map("localhost:{}".format)), max_size=3),
       index=_json)
def test_fuzzed_launcher_environments(tmp_path, capsys, tf_config, rank_size, rank_id, cluster, index):
    structured = json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}})
    for env in ({"TF_CONFIG": tf_config}, {"TF_CONFIG": structured}, {"RANK_SIZE": rank_size, "RANK_ID": rank_id}):
        with mock.patch.dict(os.environ, {k: v.replace("\0", "") for k, v in env.items()}):
            _ends_cleanly(cli_main.main_train, ["--dry-run", "--run-dir", tmp_path / "r"], capsys)


@FUZZ
@given(flags=st.lists(st.tuples(st.sampled_from(["--metrics", "--per-class", "--samples", "--seed", "--checkpoint",
                                                 "--tf1-initial-classes", "--dataset", "--grid", "--out"]),
                                _number), max_size=4))
def test_fuzzed_eval_flags(tmp_path, capsys, flags):
    argv = [tmp_path / "no-run"] + [x for pair in flags for x in pair]
    _ends_cleanly(cli_main.main_eval, argv, capsys)


def test_a_bug_is_not_bad_input(tmp_path, monkeypatch):
    """A programming error keeps its traceback instead of becoming the user's fault (exit 2), and a
    run whose numbers went non-finite is not bad input either."""
    from splitgan_keras import errors
    assert not issubclass(errors.NonFiniteError, UserError) and issubclass(errors.NonFiniteError, errors.CommandEnd)
    cfg = config.with_overrides(config.Config(), {"model.width": 8, "model.image_size": 16, "train.batch_size": 4},
                                "test")
    gan = build.build_gan(cfg, builtin_data.make(16, 16), runtime.Runtime("cpu", "float32"))
    store = checkpoints.TrainingCheckpoints(str(tmp_path), gan, keep=1)
    path = store.save()

    class Broken:
        def __init__(self, **objects):
            raise TypeError("a bug in the restore")

    monkeypatch.setattr(tf.train, "Checkpoint", Broken)
    with pytest.raises(TypeError, match="a bug in the restore"):
        store.restore(path)
