"""Configuration overrides, validation and the resolution of new and resumed runs."""
import json
import os

import pytest

from splitgan_keras import config, config_checks
from splitgan_keras.artefacts import rundir
from splitgan_keras.cli import flags as cli_flags
from splitgan_keras.errors import UserError
from splitgan_keras.train import session


def test_overrides_change_only_named_keys_and_keep_types():
    cfg = config.with_overrides(config.Config(), {"train.batch_size": 32, "train.gp_weight": 5}, "test")
    assert cfg.train.batch_size == 32 and cfg.train.gp_weight == 5.0 and isinstance(cfg.train.gp_weight, float)
    assert cfg.train.n_critic == 5 and cfg.model == config.ModelConfig()


@pytest.mark.parametrize("overrides, message", [
    ({"train.batchsize": 3}, r"unknown configuration key 'train.batchsize' in test \(train has: iterations"),
    ({"trian.batch_size": 3}, "unknown configuration key 'trian.batch_size'"),
    ({"train.batch_size": "64"}, r"--batch-size \(train.batch_size\) in test: expected int, got '64'"),
    ({"train.batch_size": 6.5}, "expected int"),
    ({"train.n_critic": True}, "expected int"),
    ({"runtime.device": "tpu"}, r"'tpu' is not one of auto, cpu, gpu, npu"),
])
def test_bad_overrides_are_named(overrides, message):
    with pytest.raises(UserError, match=message):
        config.with_overrides(config.Config(), overrides, "test")


@pytest.mark.parametrize("overrides, message", [
    ({"model.image_size": 20}, r"--image-size \(model.image_size\) must be a positive multiple of 8"),
    ({"model.width": 0}, "--width"),
    ({"data.builtin_labels": "colour_and_kind", "split.unsupervised": True},
     r"data.builtin_labels colour_and_kind makes no sense with --unsupervised"),
    ({"data.builtin_labels": "colour_and_kind", "data.dataset": "cifar10", "data.data_dir": "x"},
     "data.builtin_labels is for --dataset builtin"),
    ({"eval.metrics": ("is",)}, r"--metrics \(eval.metrics\): unknown metric 'is': use is<N>"),
    ({"eval.metrics": ()}, "must name at least one metric"),
    ({"train.batch_size": 7}, r"--batch-size \(train.batch_size\) must be a positive multiple of train.bn_groups=2"),
    ({"train.n_critic": 0}, "--n-critic"),
    ({"train.iterations": 0}, "--iterations"),
    ({"data.dataset": "cifar10"}, r"--data-dir \(data.data_dir\) is required"),
    ({"data.dataset": "cifar10", "data.data_dir": "x", "model.image_size": 16}, "must be 32 for --dataset cifar10 \\(CIFAR-10\\)"),
    ({"output.log_every": -1}, "--log-every"),
    ({"runtime.threads": -1}, r"--threads \(runtime.threads\) must be 0"),
])
def test_validation_names_the_flag(overrides, message):
    with pytest.raises(UserError, match=message):
        config_checks.validate(config.with_overrides(config.Config(), overrides, "test"))


def test_config_round_trips_through_json():
    cfg = config.with_overrides(config.Config(), {"model.width": 16, "data.data_dir": "/d"}, "test")
    assert config.from_dict(json.loads(json.dumps(config.to_dict(cfg))), "json") == cfg


def test_command_line_precedence(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": {"batch_size": 16, "n_critic": 3}, "model": {"width": 32}}))
    args = cli_flags.train_parser().parse_args(["--config", str(path), "--set", "train.n_critic=4", "--width", "64"])
    cfg = config.resolve(cli_flags.overrides(args))
    assert (cfg.train.batch_size, cfg.train.n_critic, cfg.model.width) == (16, 4, 64)


@pytest.mark.parametrize("argv, width", [
    (["--set", "model.width=16", "--width", "64"], None), (["--width", "64", "--set", "model.width=16"], None),
    (["--set", "model.width=64", "--width", "64"], 64), (["--set", "model.width=16"], 16)])
def test_a_set_and_a_flag_on_one_key_must_agree(argv, width):
    args = cli_flags.train_parser().parse_args(argv)
    if width is None:
        with pytest.raises(UserError, match=r"--set model.width=16 and --width 64 both set model.width; give it once"):
            cli_flags.overrides(args)
        return
    assert config.resolve(cli_flags.overrides(args)).model.width == width


def test_options_are_not_abbreviated_and_the_learning_rate_has_its_flag(capsys):
    with pytest.raises(SystemExit):
        cli_flags.eval_parser().parse_args(["run", "--metric", "is50k"])
    assert "unrecognized arguments: --metric" in capsys.readouterr().err
    args = cli_flags.train_parser().parse_args(["--learning-rate", "1e-3"])
    assert config.resolve(cli_flags.overrides(args)).train.learning_rate == 1e-3


def test_config_file_errors(tmp_path):
    with pytest.raises(UserError, match="config file .*missing.json does not exist"):
        config.read_json(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="bad.json is not valid JSON"):
        config.read_json(str(bad))
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"batch_size": 3}))
    with pytest.raises(UserError, match="must be a section object"):
        config.read_json(str(flat))


def _resumed(overrides):
    """What train.py --resume resolves: the overrides applied to the config saved in their run dir."""
    run_dir = config.run_dir_of(overrides)
    return config.resolve(overrides, rundir.saved_config(run_dir), rundir.config_path(run_dir))


def test_resume_keeps_saved_config_and_rejects_changes(tmp_path):
    run_dir = str(tmp_path / "run")
    saved = config.with_overrides(config.Config(), {"output.run_dir": run_dir, "model.width": 16}, "test")
    rundir.write_config(saved)
    same = _resumed([("flags", {"output.run_dir": run_dir, "model.width": 16})])
    assert same == saved
    changed_output = _resumed([("flags", {"output.run_dir": run_dir, "output.log_every": 7})])
    assert changed_output.output.log_every == 7 and changed_output.model == saved.model
    with pytest.raises(UserError, match=r"--width \(model.width\) is 32 in flags, but the run in .* was made "
                                        r"with 16 \(.*config.json\)"):
        _resumed([("flags", {"output.run_dir": run_dir, "model.width": 32})])
    # Layers resolve as they do for a new run: the last that names a key has the last word.
    layered = [("config file c.json", {"output.run_dir": run_dir, "model.width": 32}), ("--set", {"model.width": 16})]
    assert _resumed(layered) == saved
    with pytest.raises(UserError, match=r"--width \(model.width\) is 32 in config file c.json, but the run"):
        _resumed(layered[::-1])
    with pytest.raises(UserError, match="already holds a run; add --resume"):
        rundir.check_fresh(run_dir)
    with pytest.raises(UserError, match="holds no run to continue"):
        _resumed([("flags", {"output.run_dir": str(tmp_path / "empty")})])
    (tmp_path / "a_file").write_text("x")
    for check in (rundir.check_fresh, rundir.saved_config):
        with pytest.raises(UserError, match="--run-dir .*a_file is a file, not a folder"):
            check(str(tmp_path / "a_file"))


CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


@pytest.mark.parametrize("name", sorted(os.listdir(CONFIGS)))
def test_preset_configs_are_valid(name):
    cfg = config.with_overrides(config.Config(), config.read_json(os.path.join(CONFIGS, name)), name)
    if cfg.data.dataset != "builtin":
        cfg = config.with_overrides(cfg, {"data.data_dir": "/data"}, "test")
    config_checks.validate(cfg)


def test_split_presets_are_the_original_schedules():
    def schedule(name):
        return config.read_json(os.path.join(CONFIGS, name))["split.split_at"]

    assert schedule("cifar10.json") == [15620]
    assert schedule("cifar10_unsupervised.json") == [7810, 15620, 23430, 31240, 39050]
    assert schedule("stl10.json") == [15620, 31240, 46860, 62480, 78100]
    for name in ("cifar10.json", "cifar10_unsupervised.json", "stl10.json"):  # the original's split features
        cfg = config.with_overrides(config.Config(), config.read_json(os.path.join(CONFIGS, name)), name)
        assert (cfg.split.feature_blocks, cfg.split.feature_norm) == (4, "batch"), name


def test_configs_written_before_protocol_names_read_as_protocol_names(tmp_path):
    saved = config.to_dict(config.Config())
    saved["eval"].pop("metrics")
    saved["eval"].update(samples=2000, metrics=["is", "fid", "builtin_quality", "builtin_fid"])
    cfg = config.from_dict(saved, "an old config.json")
    assert cfg.eval.metrics == ("is2000", "fid2000_train", "builtin_quality", "builtin_fid2000_train")
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"eval": {"samples": 500}}))
    assert config.read_json(str(path)) == {"eval.metrics": ("is500",)}
    with pytest.raises(UserError, match="unknown configuration key 'eval.samples'"):
        config.from_dict({"eval": {"samples": "many"}}, "a hand-written file")


def test_configs_written_with_a_renamed_key_read_under_its_present_name():
    saved = config.to_dict(config.Config())
    saved["split"]["min_split_size"] = saved["split"].pop("split_above") + 5  # before split.split_above
    assert config.from_dict(saved, "an old config.json").split.split_above == config.SplitConfig().split_above + 5


def test_metrics_that_need_more_than_the_data_set_knows_are_refused_before_the_run(tmp_path):
    requested = [("test", {"eval.metrics": ("builtin_fid2000_train",), "data.dataset": "cifar10",
                           "data.data_dir": "x", "output.run_dir": str(tmp_path / "run")})]
    with pytest.raises(UserError, match=r"--metrics builtin_fid2000_train needs a training set that knows what "
                                        r"its images show .*: --dataset builtin"):
        session.resolve(requested, resume=False, lock=None)
    assert not (tmp_path / "run").exists()
