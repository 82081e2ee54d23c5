"""eval.py on every input kind, its errors, and evaluation during training."""
import contextlib
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY, train_cli
from splitgan_keras.cli import main as cli_main
from golden_sets import golden_dirs


_TRAINING_OUTPUT = {}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny finished run with a split: checkpoints at 2 and 4, and an export."""
    path = tmp_path_factory.mktemp("evalrun") / "run"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = cli_main.main_train([str(a) for a in TINY + ["--run-dir", path, "--iterations", 4, "--checkpoint-every", 2,
                                                         "--split-at", 1, "--min-split-size", 3]])
    assert status == 0
    _TRAINING_OUTPUT[path] = output.getvalue()
    return path


def test_the_builtin_figure_is_a_function_of_the_checkpoint(run_dir, tmp_path, capsys):
    """The end of training, and eval.py twice (each with a fresh cache), report the same figure."""
    reported = [line for line in _TRAINING_OUTPUT[run_dir].splitlines() if line.startswith("builtin_quality100:")]
    figures = []
    for i in range(2):
        status, _, err = _eval([run_dir, "--metrics", "builtin_quality", "--cache-dir", tmp_path / str(i),
                                "--json", tmp_path / ("%d.json" % i)], capsys)
        assert status == 0, err
        figures.append(json.loads((tmp_path / ("%d.json" % i)).read_text())["metrics"])
    assert figures[0] == figures[1] and "builtin_quality100/subclass_accuracy" in figures[0]
    shown = "colour %.1f%% (+- %.1f)" % (100 * figures[0]["builtin_quality100/class_accuracy"],
                                         100 * figures[0]["builtin_quality100/class_accuracy_se"])
    assert len(reported) == 1 and shown in reported[0], (reported, shown)


def _eval(args, capsys):
    status = cli_main.main_eval([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_run_dir_metrics_grid_and_samples(run_dir, tmp_path, capsys, inception_dir, cache_dir):
    status, out, err = _eval([run_dir, "--metrics", "is100,fid100_train,builtin_quality,builtin_fid50_train",
                              "--inception", inception_dir,
                              "--json", tmp_path / "m.json", "--grid", tmp_path / "g.png", "--per-class", 3,
                              "--samples", 50, "--out", tmp_path / "s.npz"], capsys)
    assert status == 0, err
    assert "checkpoints/ckpt-4 (20 classes)" in out
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert {"is100", "is100_std", "fid100_train", "builtin_quality100/class_accuracy",
            "builtin_quality100/subclass_accuracy_se", "builtin_fid50_train"} <= set(metrics)
    assert metrics["is100"] >= 1.0 and metrics["fid100_train"] > 0 and metrics["builtin_fid50_train"] > 0
    assert "is100 " in out and "+-" in out
    grid = tf.io.decode_png((tmp_path / "g.png").read_bytes()).numpy()
    assert grid.shape[0] == 20 * 17 + 1 and grid.shape[1] > 3 * 17 + 1  # 20 rows of 3, labels on the left
    with np.load(tmp_path / "s.npz") as samples:
        assert samples["images"].shape == (50, 16, 16, 3) and samples["images"].dtype == np.uint8
        assert samples["labels"].min() >= 0 and samples["labels"].max() < 20


def test_checkpoint_export_and_run_dir_give_the_same_images(run_dir, tmp_path, capsys):
    for name, source in (("latest", run_dir), ("ckpt", run_dir / "checkpoints" / "ckpt-4"),
                         ("export", run_dir / "export"), ("early", run_dir / "checkpoints" / "ckpt-2")):
        status, out, err = _eval([source, "--grid", tmp_path / (name + ".png")], capsys)
        assert status == 0, err
    def samples(name):  # the grid without its labels (an export knows no sub-classes of the training images)
        return tf.io.decode_png((tmp_path / (name + ".png")).read_bytes()).numpy()[:, -(10 * 17 + 1):]

    same = [samples(n).astype(int) for n in ("latest", "ckpt", "export")]
    np.testing.assert_array_equal(same[0], same[1])
    assert np.abs(same[0] - same[2]).max() <= 1  # the exported graph's float rounding (seen on TF 2.6)
    assert not np.array_equal(samples("early"), same[0])


@pytest.mark.parametrize("golden_dir", golden_dirs()[:1])
def test_tf1_checkpoint_grid_and_export(golden_dir, tmp_path, capsys):
    checkpoint = os.path.join(golden_dir, "init.ckpt")
    status, out, err = _eval([checkpoint, "--grid", tmp_path / "g.png", "--export-to", tmp_path / "export"], capsys)
    assert status == 0, err
    assert "TF1 checkpoint" in out and "(10 classes)" in out
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    assert int(loaded.signatures["class_hierarchy"]()["num_classes"]) == 10


@pytest.mark.parametrize("args, message", [
    (["{tmp}"], "nothing to do"),
    (["{tmp}", "--grid", "x.png"], "is not a run dir"),
    (["{run}", "--samples", "10"], "--samples N and --out FILE.npz go together"),
    (["{run}/export", "--export-to", "{tmp}/e"], "is an export already"),
    (["{run}/export", "--metrics", "fid100_train", "--inception", "{inception}"], "fid100_train needs the training images"),
    (["{run}/export", "--metrics", "builtin_quality"], "builtin_quality100 needs a training set that knows"),
    (["{run}/export", "--dataset", "builtin", "--metrics", "builtin_quality"],
     "builtin_quality100 needs the class of every training image: evaluate a run dir or a checkpoint"),
    (["{run}/export", "--metrics", "builtin_fid50_train"], "builtin_fid50_train needs the training images"),
    (["{run}", "--metrics", "kid100"], "unknown metric 'kid100'"),
    (["{run}", "--metrics", "is100", "--inception", "{tmp}/none"], "--inception .*/none does not exist"),
])
def test_eval_errors(run_dir, tmp_path, capsys, inception_dir, args, message):
    args = [a.format(tmp=tmp_path, run=run_dir, inception=inception_dir) for a in args]
    if message == "nothing to do":
        with pytest.raises(SystemExit):
            cli_main.main_eval(args)
        assert message in capsys.readouterr().err
        return
    status, out, err = _eval(args, capsys)
    assert status == 2
    assert re.search(message, err.strip().splitlines()[-1]), err


def test_torn_exports_and_checkpoints(run_dir, tmp_path, capsys):
    import shutil
    export = tmp_path / "export"
    shutil.copytree(run_dir / "export", export)
    (export / "saved_model.pb").write_bytes(b"torn")
    checkpoint = tmp_path / "ckpt-4"
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(str(run_dir / "checkpoints" / "ckpt-4") + suffix, str(checkpoint) + suffix)
    with open(str(checkpoint) + ".index", "r+b") as f:
        f.truncate(100)
    for source, message in ((export, "cannot load the SavedModel in .*export \\((OSError|ValueError)"),
                            (checkpoint, "checkpoint .*ckpt-4 cannot be read, it is torn or corrupt")):
        status, _, err = _eval([source, "--grid", tmp_path / "g.png"], capsys)
        assert status == 2 and re.search(message, err.strip().splitlines()[-1]), err
    assert not (tmp_path / "g.png").exists()

    run = tmp_path / "run"  # a run whose newest checkpoint is torn: the one before it is used
    shutil.copytree(run_dir, run)
    with open(str(run / "checkpoints" / "ckpt-4") + ".index", "r+b") as f:
        f.truncate(100)
    status, out, err = _eval([run, "--grid", tmp_path / "g.png"], capsys)
    assert status == 0, err
    assert re.search(r"ckpt-4 cannot be used \(checkpoint .*ckpt-4 cannot be read, it is torn or corrupt .*\); trying "
                     r"the one before", out)
    assert "evaluating checkpoint %s" % (run / "checkpoints" / "ckpt-2") in out and (tmp_path / "g.png").exists()


@pytest.mark.slow
def test_evaluation_during_training_keeps_the_best_checkpoint(tmp_path, capsys, inception_dir, cache_dir):
    run = tmp_path / "run"
    # IS only: FID's two 2048x2048 matrix square roots take 13 s here and are tested elsewhere.
    status, out, err = train_cli(TINY + ["--run-dir", run, "--iterations", 4, "--eval-every", 2,
                                         "--eval-metrics", "is20", "--inception", inception_dir,
                                         "--set", "eval.best_after=0"], capsys)
    assert status == 0, err
    assert out.count("evaluation after iteration") == 2 and "is20 " in out
    best = json.loads((run / "checkpoints" / "best" / "best.json").read_text())
    assert best["metric"] == "is20" and best["iteration"] in (2, 4)
    assert os.path.exists(run / "checkpoints" / "best" / (best["checkpoint"] + ".index"))
    history = json.loads((run / "evaluations.json").read_text())  # what an experiment reads back
    assert [entry["iteration"] for entry in history] == [2, 4]
    assert max(entry["is20"] for entry in history) == pytest.approx(best["value"])
    status, out, err = _eval([run / "checkpoints" / "best" / best["checkpoint"], "--grid", tmp_path / "b.png"], capsys)
    assert status == 0, err


def test_a_missing_inception_module_stops_training_before_anything_is_written(tmp_path, capsys):
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "run", "--eval-every", 2,
                                         "--inception", tmp_path / "none"], capsys)
    assert status == 2 and "--inception" in err and "does not exist" in err
    assert not (tmp_path / "run").exists()
