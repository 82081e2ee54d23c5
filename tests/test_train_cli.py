"""train.py end to end on tiny configurations: the run dir, exact resume, bad input."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY, run_script, train_cli, write_cifar_batches
from splitgan_keras.cli import main as cli_main
from golden_sets import golden_dirs


def _checkpoint_values(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


@pytest.mark.slow
def test_tiny_run_fills_the_run_dir(tmp_path, capsys):
    run_dir = tmp_path / "run"
    status, out, err = train_cli(TINY + ["--run-dir", run_dir, "--iterations", 4, "--checkpoint-every", 2,
                                         "--sample-every", 2, "--log-every", 2], capsys)
    assert status == 0, err
    assert "iteration 4/4" in out and "it/s" in out and "ETA" in out
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["model"]["width"] == 8 and saved["train"]["iterations"] == 4
    assert sorted(os.listdir(run_dir / "checkpoints")) == [
        "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index", "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    grids = sorted(os.listdir(run_dir / "samples"))
    assert grids == ["iteration_0000002.png", "iteration_0000004.png"]
    image = tf.io.decode_png((run_dir / "samples" / grids[-1]).read_bytes()).numpy()
    assert image.shape[0] > 10 * 17 and image.shape[1] > 2 * 17  # 10 classes x 2 samples of 16x16, labelled
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run_dir / "logs"))
    (events,) = os.listdir(run_dir / "logs")  # one writer for the whole run (run_log.RunLog)
    tags = {value.tag for event in tf.compat.v1.train.summary_iterator(str(run_dir / "logs" / events))
            for value in event.summary.value}
    assert {"d/cost", "perf/iterations_per_second", "samples"} <= tags, tags
    assert (run_dir / "export" / "saved_model.pb").exists()
    values = _checkpoint_values(str(run_dir / "checkpoints" / "ckpt-4"))
    assert any("iteration" in k for k in values) and not any("rng" in k for k in values)  # random inputs: stateless
    assert any("example_labels" in k for k in values) and any("class_state/tree" in k for k in values)
    assert any("/m/" in k for k in values) and any("/v/" in k for k in values)  # Adam slots


@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = TINY + ["--iterations", 8]
    assert train_cli(common + ["--run-dir", straight], capsys)[0] == 0
    assert train_cli(common + ["--run-dir", split, "--stop-at", 4], capsys)[0] == 0
    assert sorted(p for p in os.listdir(split / "checkpoints") if p.endswith(".index")) == ["ckpt-4.index"]
    assert not (split / "export").exists()
    status, out, err = train_cli(["--run-dir", split, "--resume"], capsys)
    assert status == 0, err
    assert "resumed from" in out and "training iterations 5..8" in out
    a = _checkpoint_values(str(straight / "checkpoints" / "ckpt-8"))
    b = _checkpoint_values(str(split / "checkpoints" / "ckpt-8"))
    assert a.keys() == b.keys() and len(a) > 100
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _assert_clean_failure(result, *fragments):
    status, out, err = result
    assert status != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_missing_data_dir(tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = train_cli(TINY + ["--run-dir", run_dir, "--dataset", "cifar10", "--image-size", 32,
                               "--data-dir", tmp_path / "nope"], capsys)
    _assert_clean_failure(result, "--data-dir", str(tmp_path / "nope"), "does not exist")
    assert not run_dir.exists()


@pytest.mark.parametrize("corrupt, fragments", [
    ("truncate", ["data_batch_3", "not a CIFAR-10 python batch"]),
    ("shape", ["data_batch_3", "[n, 3072]", "[12, 1024]"]),
    ("labels", ["data_batch_3", "labels must lie in 0..9", "found 0..12"]),
])
def test_broken_cifar_batches(tmp_path, capsys, corrupt, fragments):
    folder = write_cifar_batches(str(tmp_path / "cifar"), corrupt={
        "truncate": None, "shape": lambda b: {**b, b"data": b[b"data"][:, :1024]},
        "labels": lambda b: {**b, b"labels": [12] + b[b"labels"][1:]}}[corrupt])
    if corrupt == "truncate":
        path = os.path.join(folder, "data_batch_3")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])
    run_dir = tmp_path / "run"
    result = train_cli(TINY + ["--run-dir", run_dir, "--dataset", "cifar10", "--image-size", 32,
                               "--data-dir", folder], capsys)
    _assert_clean_failure(result, *fragments)
    assert not run_dir.exists()


def test_cifar_run_trains(tmp_path, capsys, cifar_dir):
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "run", "--dataset", "cifar10", "--image-size", 32,
                                         "--data-dir", cifar_dir, "--iterations", 2], capsys)
    assert status == 0, err
    assert "CIFAR-10 at %s (60 images)" % cifar_dir in out  # 5 batches of 12
    assert os.stat(tmp_path / "run" / "config.json").st_mode & 0o777 == 0o666 & ~_umask()
    for png in (tmp_path / "run" / "samples").iterdir():
        assert png.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert os.stat(tmp_path / "run" / "export").st_mode & 0o777 == 0o777 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_resume_with_another_width_is_refused_and_changes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_cli(TINY + ["--run-dir", run_dir, "--iterations", 4, "--stop-at", 2], capsys)[0] == 0
    before = {p: (run_dir / "checkpoints" / p).read_bytes() for p in os.listdir(run_dir / "checkpoints")}
    result = train_cli(["--run-dir", run_dir, "--resume", "--width", 16], capsys)
    _assert_clean_failure(result, "--width (model.width) is 16", "made with 8", "config.json")
    after = {p: (run_dir / "checkpoints" / p).read_bytes() for p in os.listdir(run_dir / "checkpoints")}
    assert before == after


def test_new_run_into_existing_run_dir_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_cli(TINY + ["--run-dir", run_dir, "--iterations", 1], capsys)[0] == 0
    _assert_clean_failure(train_cli(TINY + ["--run-dir", run_dir, "--iterations", 1], capsys),
                          "already holds a run", "--resume")


def test_nonsense_flags(tmp_path, capsys):
    _assert_clean_failure(train_cli(TINY + ["--run-dir", tmp_path / "r", "--batch-size", 5], capsys),
                          "--batch-size", "multiple of train.bn_groups")
    _assert_clean_failure(train_cli(TINY + ["--run-dir", tmp_path / "r", "--iterations", 3, "--stop-at", 5], capsys),
                          "--stop-at 5", "1..3")
    _assert_clean_failure(train_cli(TINY + ["--run-dir", tmp_path / "r", "--set", "train.nope=1"], capsys),
                          "unknown configuration key 'train.nope'")
    _assert_clean_failure(train_cli(TINY + ["--run-dir", tmp_path / "r", "--data-dir", tmp_path], capsys),
                          "--data-dir", "is for --dataset cifar10 or stl10", "--dataset is builtin")
    for args, hint in ((["--device", "tpu"], "invalid choice: 'tpu'"), (["--widht", "8"], "(did you mean --width?)")):
        with pytest.raises(SystemExit) as info:
            train_cli(args)
        _, err = capsys.readouterr()
        assert info.value.code == 2 and hint in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_dry_run_checks_the_files_it_would_read(tmp_path, capsys, cifar_dir):
    cifar = ["--dataset", "cifar10", "--image-size", 32, "--data-dir"]
    _assert_clean_failure(train_cli(cifar + [tmp_path / "nope", "--dry-run"], capsys), "nope", "does not exist")
    os.remove(os.path.join(cifar_dir, "data_batch_4"))
    _assert_clean_failure(train_cli(cifar + [cifar_dir, "--dry-run"], capsys), "data_batch_4 is missing")
    _assert_clean_failure(train_cli(["--dry-run", "--init-from-tf1", tmp_path / "model-5"], capsys),
                          "--init-from-tf1", "no checkpoint there")
    _assert_clean_failure(train_cli(["--dry-run", "--eval-every", 10, "--inception", tmp_path / "none"], capsys),
                          "--inception", "does not exist")
    status, out, _ = train_cli(["--dry-run", "--run-dir", tmp_path / "r"], capsys)
    assert status == 0 and json.loads(out)["model"]["width"] == 128 and not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("golden_dir", golden_dirs()[:1])
def test_init_from_tf1_checkpoint(tmp_path, capsys, golden_dir):
    checkpoint = os.path.join(golden_dir, "init.ckpt")
    width = json.load(open(os.path.join(golden_dir, "variables.json")))["settings"]["DIM_G"]
    wrong = train_cli(TINY + ["--run-dir", tmp_path / "wrong", "--image-size", 32, "--width", width * 2,
                              "--init-from-tf1", checkpoint], capsys)
    _assert_clean_failure(wrong, "init.ckpt", "Generator.Input", "another width")
    assert not (tmp_path / "wrong").exists()

    run_dir = tmp_path / "run"
    status, out, err = train_cli(TINY + ["--run-dir", run_dir, "--image-size", 32, "--width", width,
                                         "--iterations", 1, "--init-from-tf1", checkpoint], capsys)
    assert status == 0, err
    # One iteration trains only the critic, so the generator still holds the TF1 weights.
    ours = _checkpoint_values(str(run_dir / "checkpoints" / "ckpt-1"))
    kernel = next(v for k, v in ours.items() if "input_linear/kernel/.ATTRIBUTES" in k)
    stored = tf.train.load_checkpoint(checkpoint).get_tensor("Generator.Input/Generator.Input.W")
    np.testing.assert_array_equal(kernel, stored.T)


@pytest.mark.slow
def test_train_script_in_a_fresh_process(tmp_path):
    ok = run_script("train.py", TINY + ["--run-dir", tmp_path / "run", "--iterations", 3, "--split-at", 1,
                                        "--split-above", 2])
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"^done: 3 iterations in \dm\d\ds \| ", ok.stdout, re.M)
    assert ok.stdout.count("split after iteration 1") == 1
    bad = run_script("train.py", TINY + ["--run-dir", tmp_path / "run2", "--dataset", "cifar10",
                                         "--image-size", 32, "--data-dir", tmp_path / "missing"])
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [  # data is checked before TensorFlow starts up
        "error: --data-dir %s does not exist; download cifar-10-python.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and pass the file or its extracted folder" % (tmp_path / "missing")]


@pytest.mark.slow
def test_several_iterations_per_call_compute_the_same(tmp_path, capsys):
    common = TINY + ["--iterations", 8, "--checkpoint-every", 4]
    assert train_cli(common + ["--run-dir", tmp_path / "one"], capsys)[0] == 0
    status, out, err = train_cli(common + ["--run-dir", tmp_path / "four", "--iterations-per-call", 4], capsys)
    assert status == 0, err
    a, b = _checkpoint_values(str(tmp_path / "one" / "checkpoints" / "ckpt-8")), \
        _checkpoint_values(str(tmp_path / "four" / "checkpoints" / "ckpt-8"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    status, _, err = train_cli(TINY + ["--run-dir", tmp_path / "bad", "--iterations", 8, "--iterations-per-call", 3],
                               capsys)
    assert status == 2 and "must be a multiple of --iterations-per-call 3" in err


@pytest.mark.slow
def test_the_generator_average_is_split_checkpointed_resumed_and_exported(tmp_path, capsys):
    from splitgan_keras.artefacts import sampling
    from splitgan_keras.evaluate import sources
    from splitgan_keras.models import networks
    common = TINY + ["--iterations", 4, "--ema-decay", 0.5, "--split-at", 1, "--split-above", 2]
    assert train_cli(common + ["--run-dir", tmp_path / "straight"], capsys)[0] == 0
    assert train_cli(common + ["--run-dir", tmp_path / "resumed", "--stop-at", 2], capsys)[0] == 0
    assert train_cli(common + ["--run-dir", tmp_path / "resumed", "--resume"], capsys)[0] == 0
    a, b = (_checkpoint_values(str(tmp_path / r / "checkpoints" / "ckpt-4")) for r in ("straight", "resumed"))
    assert a.keys() == b.keys() and any(k.startswith("ema_generator/") for k in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    tree = [v for k, v in a.items() if "class_state/tree" in k]
    assert len(tree) == 1 and tree[0].sum() > 10  # split, and one state for the generator and its average
    noise = np.random.default_rng(0).standard_normal((20, 128)).astype(np.float32)
    labels = np.arange(20, dtype=np.int32)
    run = tmp_path / "straight"
    exported = sources.load(str(run / "export")).source.generate(noise, labels).astype(int)
    averaged = sources.load(str(run)).source.generate(noise, labels).astype(int)
    assert np.abs(averaged - exported).max() <= 1  # float rounding of the exported graph (seen on TF 2.6)
    trained = networks.Generator(width=8, image_size=16).build_variables()
    tf.train.Checkpoint(generator=trained).restore(str(run / "checkpoints" / "ckpt-4")).expect_partial()
    assert trained.class_state.num_active() == 20
    assert np.abs(sampling.GeneratorSource(trained).generate(noise, labels).astype(int) - exported).max() > 1


def test_checkpoints_of_version_0_1_are_refused_naming_the_version(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_cli(TINY + ["--run-dir", run_dir, "--iterations", 2, "--stop-at", 1], capsys)[0] == 0
    # ckpt-1 as 0.1 wrote it: the class tree a variable of the generator, no stored parents
    legacy = tf.Module()
    legacy.class_tree = tf.Variable(np.zeros((4, 4), np.float32))
    tf.train.Checkpoint(generator=legacy).write(str(run_dir / "checkpoints" / "ckpt-1"))
    status, out, err = train_cli(["--run-dir", run_dir, "--resume"], capsys)
    assert status == 2 and "ckpt-1 was written by splitgan-keras 0.1" in err and "this is 0.2" in err
    status = cli_main.main_eval([str(run_dir), "--grid", str(tmp_path / "grid.png")])
    assert status == 2 and "splitgan-keras 0.1" in capsys.readouterr().err
    assert not (tmp_path / "grid.png").exists()
