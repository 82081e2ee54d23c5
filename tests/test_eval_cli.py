"""eval.py on every input kind, its errors, and evaluation during training."""
import contextlib
import glob
import hashlib
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY, train_cli
from splitgan_keras.cli import main as cli_main
from splitgan_keras.errors import UserError
from golden_sets import golden_dirs


_TRAINING_OUTPUT = {}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny finished run with a split: checkpoints at 2 and 4, and an export."""
    path = tmp_path_factory.mktemp("evalrun") / "run"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = cli_main.main_train([str(a) for a in TINY + ["--run-dir", path, "--iterations", 4,
                                                              "--checkpoint-every", 2, "--split-at", 1,
                                                              "--split-above", 3]])
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


def _sha256_of_files(paths):
    """SHA-256 over files as the protocols take it: each file's name, a NUL, its bytes."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.basename(path).encode() + b"\0" + open(path, "rb").read())
    return digest.hexdigest()


def _eval(args, capsys):
    status = cli_main.main_eval([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_run_dir_metrics_grid_and_samples(run_dir, tmp_path, capsys, inception_dir, cache_dir):
    status, out, err = _eval([run_dir, "--metrics", "is100,fid64_train,builtin_quality,builtin_fid50_train",
                              "--inception", inception_dir,
                              "--json", tmp_path / "m.json", "--grid", tmp_path / "g.png", "--per-class", 3,
                              "--samples", 50, "--out", tmp_path / "s.npz"], capsys)
    assert status == 0, err
    assert "checkpoints/ckpt-4 (20 classes)" in out
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert {"is100", "is100_std", "fid64_train", "builtin_quality100/class_accuracy",
            "builtin_quality100/subclass_accuracy_se", "builtin_fid50_train"} <= set(metrics)
    assert metrics["is100"] >= 1.0 and metrics["fid64_train"] > 0 and metrics["builtin_fid50_train"] > 0
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
    (["{run}", "--samples", "10"], r"--samples N and --out FILE\.npz\|DIR go together"),
    (["{run}/export", "--export-to", "{tmp}/e"], "is an export already"),
    (["{run}/export", "--metrics", "fid100_train", "--inception", "{inception}"],
     "fid100_train needs the training images"),
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
    status, out, err = train_cli(TINY + ["--run-dir", run, "--iterations", 4, "--eval-every", 2, "--split-at", 1,
                                         "--split-above", 3, "--eval-metrics", "is20,builtin_ifid5_train",
                                         "--inception", inception_dir, "--set", "eval.best_after=0"], capsys)
    assert status == 0, err
    assert out.count("evaluation after iteration") == 2 and "is20 " in out
    assert out.count("Inception module %s (SHA-256 " % inception_dir) == 1  # said once, at the start
    best = json.loads((run / "checkpoints" / "best" / "best.json").read_text())
    assert best["metric"] == "is20" and best["iteration"] in (2, 4)
    assert os.path.exists(run / "checkpoints" / "best" / (best["checkpoint"] + ".index"))
    history = json.loads((run / "evaluations.json").read_text())  # what an experiment reads back
    assert [entry["iteration"] for entry in history] == [2, 4]
    assert max(entry["is20"] for entry in history) == pytest.approx(best["value"])
    assert history[0]["protocols"]["is20"]["generator"] == {"run_dir": str(run), "iteration": 2}
    assert history[1]["protocols"]["builtin_ifid5_train"]["samples_drawn"] == "5 of every class"
    assert 0 <= history[1]["builtin_ifid5_train/closer_to_own"] <= 1
    charts = [value.tag for path in glob.glob(str(run / "logs" / "events.*"))
              for event in tf.compat.v1.train.summary_iterator(path) for value in event.summary.value]
    assert charts.count("eval/builtin_ifid5_train/chart") == 2  # the per-class chart at each evaluation
    status, out, err = _eval([run / "checkpoints" / "best" / best["checkpoint"], "--grid", tmp_path / "b.png"], capsys)
    assert status == 0, err


def test_a_missing_inception_module_stops_training_before_anything_is_written(tmp_path, capsys):
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "run", "--eval-every", 2,
                                         "--inception", tmp_path / "none"], capsys)
    assert status == 2 and "--inception" in err and "does not exist" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_every_figure_in_the_json_carries_its_protocol(run_dir, tmp_path, capsys, inception_dir, cache_dir):
    every = "is20,fid20_test,kid30_train,pr30_train,builtin_ifid5_train"
    some = "is20,kid30_train,builtin_ifid5_train"  # another seed: no FID's two 2048x2048 square roots again
    for run, (seed, metrics) in enumerate(((0, every), (0, every), (1, some))):
        status, out, err = _eval([run_dir, "--metrics", metrics, "--inception", inception_dir, "--class-chart",
                                  tmp_path / "classes.png", "--seed", seed, "--json", tmp_path / ("%d.json" % run)],
                                 capsys)
        assert status == 0, err
    assert "Inception module %s (SHA-256 " % inception_dir in out and "not known to be tfgan's" in out
    assert "builtin_ifid5_train per class" in out and tf.io.decode_png((tmp_path / "classes.png").read_bytes()).shape[0]
    written, again, other_seed = (json.loads((tmp_path / ("%d.json" % run)).read_text()) for run in range(3))
    assert {key: written["generator"][key] for key in ("checkpoint", "iteration")} == {
        "checkpoint": str(run_dir / "checkpoints" / "ckpt-4"), "iteration": 4}
    assert {"is20", "is20_std", "fid20_test", "kid30_train", "kid30_train_se", "pr30_train/precision",
            "pr30_train/recall", "builtin_ifid5_train", "builtin_ifid5_train/worst_class"} <= set(written["metrics"])
    protocols = written["protocols"]
    assert set(protocols) == {"is20", "fid20_test", "kid30_train", "pr30_train", "builtin_ifid5_train"}
    from splitgan_keras import inception_module
    assert protocols["is20"]["features"]["sha256"] == inception_module.module_sha256(str(inception_dir))
    assert protocols["is20"]["features"]["network"] == inception_module.UNKNOWN_NAME  # the stand-in is not tfgan's
    assert protocols["is20"]["inception_score"]["splits"] == 10 and "resize_bilinear" in protocols["is20"]["features"][
        "resizer"]
    assert protocols["fid20_test"]["reference"]["split"] == "test" and protocols["fid20_test"]["reference"][
        "images"] == 20
    from splitgan_keras.artefacts import rundir
    from splitgan_keras.data import datasets
    training = datasets.load(rundir.read_config(str(run_dir)))
    assert protocols["kid30_train"]["reference"] == {
        "split": "train", "images": 30, "data": "built-in dataset (seed 0, 64 images)",
        "sha256": hashlib.sha256(training.images[:30].tobytes()).hexdigest()}  # the images' content, not their name
    checkpoint_files = sorted(glob.glob(str(run_dir / "checkpoints" / "ckpt-4.*")))
    assert written["generator"]["sha256"] == _sha256_of_files(checkpoint_files)
    assert all(p["generator"] == written["generator"] and p["seed"] == 0 for p in protocols.values())
    assert all(p["id"] != protocols[name]["id"] for name, p in other_seed["protocols"].items())
    assert all(again["protocols"][name]["id"] == p["id"] for name, p in protocols.items())  # the same protocol
    rows = written["classes"]["builtin_ifid5_train"]
    assert len(rows) == 20 and {"label", "parent", "distance", "nearest_relative"} <= set(rows[0])


def test_samples_of_chosen_classes_as_png_files_or_npz(run_dir, tmp_path, capsys):
    status, out, err = _eval([run_dir / "export", "--samples", 3, "--classes", "3,13", "--out", tmp_path / "pngs"],
                             capsys)
    assert status == 0, err
    names = sorted(os.listdir(tmp_path / "pngs"))
    assert names == ["class13_%05d.png" % i for i in range(3)] + ["class3_%05d.png" % i for i in range(3)]
    status, _, err = _eval([run_dir, "--samples", 3, "--classes", "3,13", "--out", tmp_path / "s.npz"], capsys)
    assert status == 0, err
    with np.load(tmp_path / "s.npz") as samples:
        assert list(samples["labels"]) == [3, 3, 3, 13, 13, 13] and samples["images"].shape == (6, 16, 16, 3)
        png = tf.io.decode_png((tmp_path / "pngs" / "class13_00001.png").read_bytes()).numpy()
        assert np.abs(png.astype(int) - samples["images"][4]).max() <= 1  # export and checkpoint: the same sample
    status, _, err = _eval([run_dir, "--samples", 3, "--classes", "3,20", "--out", tmp_path / "none",
                            "--grid", tmp_path / "g.png"], capsys)
    assert status == 2 and "--classes 20: checkpoint" in err and "has classes 0..19" in err
    assert not os.path.exists(tmp_path / "none") and not os.path.exists(tmp_path / "g.png")


def test_the_readmes_samples_snippet_runs_with_tensorflow_alone(run_dir, tmp_path):
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    snippet = readme.split("<!-- samples-snippet:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    snippet = snippet.replace("runs/quickstart/export", str(run_dir / "export"))
    blocker = "import sys\nsys.modules['splitgan_keras'] = None  # importing the project now fails\n"
    result = subprocess.run([sys.executable, "-c", blocker + snippet], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(name for name in os.listdir(tmp_path) if name.endswith(".png"))
    assert len(written) == 10  # classes 3 and 13 among 100 samples with labels 0..19 in turn
    assert tf.io.decode_png((tmp_path / written[0]).read_bytes()).shape == (16, 16, 3)


def test_real_images_are_scored_by_the_same_pipeline_once(run_dir, tmp_path, capsys, cache_dir):
    args = ["--real", "train", "--metrics", "builtin_quality10,builtin_fid40_train", "--json"]
    status, out, err = _eval([run_dir] + args + [tmp_path / "a.json"], capsys)
    assert status == 0, err
    assert "real images: built-in dataset (seed 0, 64 images)" in out and "from the cache" not in out
    status, again, err = _eval([run_dir] + args + [tmp_path / "b.json"], capsys)
    assert status == 0 and again.count("from the cache") == 2, err
    first, second = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert first["metrics"] == second["metrics"] and first["metrics"]["builtin_quality10/class_accuracy"] >= 0.95
    assert first["generator"] == {"real": "train", "data": "built-in dataset (seed 0, 64 images)"}
    status, out, err = _eval([run_dir, "--real", "test", "--metrics", "builtin_fid20_train"], capsys)
    assert status == 0 and "built-in dataset test split (seed 0, 20 images)" in out, err


@pytest.mark.parametrize("args, message", [
    (["--real", "train", "--metrics", "builtin_fid20_train"], "give a PATH to evaluate (a run dir, checkpoint or export), --real with --dataset"),
    (["{run}/export", "--real", "train", "--metrics", "builtin_fid20_train"], "is not a run dir"),
    (["{run}", "--real", "train", "--metrics", "builtin_fid20_train", "--grid", "{tmp}/g.png"],
     "--real train scores real images with --metrics, and only that"),
    (["--real", "test", "--dataset", "stl10", "--data-dir", "{tmp}", "--metrics", "builtin_fid20_train"],
     "stl10 has no test split"),
])
def test_real_scores_refuse_what_makes_no_sense(run_dir, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    if message.startswith("give a PATH"):
        with pytest.raises(SystemExit):
            cli_main.main_eval(args)
        assert message in capsys.readouterr().err
        return
    status, _, err = _eval(args, capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not os.path.exists(tmp_path / "g.png")


def test_the_stl10_unlabelled_set_has_no_test_split():
    from splitgan_keras import config
    from splitgan_keras.data import datasets
    cfg = config.with_overrides(config.Config(), {"data.dataset": "stl10", "data.data_dir": "x"}, "test")
    with pytest.raises(UserError, match="stl10 has no test split"):
        datasets.load_test(cfg)
