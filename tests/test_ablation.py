"""The ablation command end to end on a tiny budget: every condition and seed trained, the figures
read back from the runs' evaluation histories, the JSON, table and plot written; an interrupted ablation continues."""
import json
import os

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from splitgan_keras import config
from splitgan_keras.cli import flags as cli_flags, main as cli_main
from splitgan_keras.data import builtin_data
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate import sources
from splitgan_keras.experiments import __main__ as experiments, ablation

TINY_BUDGET = {
    "data": {"builtin_size": 80},
    "model": {"width": 8, "image_size": 16},
    "train": {"iterations": 4, "batch_size": 4, "n_critic": 2},
    "split": {"split_at": [1], "split_above": 3},
    "output": {"log_every": 0, "sample_every": 0, "checkpoint_every": 0, "samples_per_class": 2},
}


def _budget_file(tmp_path, budget=None):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(budget or TINY_BUDGET))
    return str(path)


def _ablation(tmp_path, *extra):
    return experiments.main(["ablation", "--config", _budget_file(tmp_path), "--seeds", "0,1", "--eval-every", "2",
                             "--fid-samples", "20", "--out", str(tmp_path / "out")] + list(extra))


# The moving-average condition (split_ema) is the split's with train.ema_decay set
# (test_each_condition_is_the_budget_with_its_own_changes), and an averaged run is trained, split, resumed and
# exported in test_train_cli: it is not trained here again, which keeps this test a fifth shorter.
TRAINED = "no_split,split,oracle"


@pytest.mark.slow
def test_the_ablation_trains_its_conditions_and_reports_them(tmp_path, capsys):
    assert _ablation(tmp_path, "--conditions", TRAINED) == 0
    out = capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert set(results["conditions"]) == {"no_split", "split", "oracle"} and results["seeds"] == [0, 1]
    for condition, entry in results["conditions"].items():
        assert len(entry["runs"]) == 2
        for run in entry["runs"]:
            assert [step for step, _ in run["curves"]["colour"]] == [2, 4]
            assert [step for step, _ in run["curves"]["builtin_fid"]] == [2, 4]
            assert 0 <= run["final"]["colour"] <= 1 and run["final"]["builtin_fid"] >= 0 and run["seconds"] > 0
            fid_second_half = [value for step, value in run["curves"]["builtin_fid"] if step > 2]
            assert run["final"]["builtin_fid_second_half"] == pytest.approx(np.mean(fid_second_half))
        finals = [run["final"]["colour"] for run in entry["runs"]]
        assert entry["final"]["colour"]["mean"] == pytest.approx(np.mean(finals))
        assert entry["final"]["colour"]["std"] == pytest.approx(np.std(finals))
        # A sub-class figure only where classes carry a sub-class: after the split, and the oracle's.
        assert ("subclass" in entry["final"]) == (condition != "no_split")
    # The seeds are different runs, and the oracle trains on the 20 groups from the start.
    split_runs = results["conditions"]["split"]["runs"]
    assert split_runs[0]["final"] != split_runs[1]["final"]
    oracle = sources.load(os.path.join(results["conditions"]["oracle"]["runs"][0]["run_dir"]))
    assert oracle.source.num_active() == 20 and list(oracle.source.class_parents()) == [-1] * 20
    assert oracle.cfg.data.builtin_labels == "colour_and_kind" and not oracle.cfg.split.split_at
    assert sources.load(split_runs[0]["run_dir"]).source.num_active() == 20
    assert sources.load(results["conditions"]["no_split"]["runs"][0]["run_dir"]).source.num_active() == 10
    # The final classes against the 20 hidden groups: the oracle's are the groups; no split leaves the colours.
    appearance = builtin_data.appearance(TINY_BUDGET["data"]["builtin_size"])
    assert all(run["final"]["groups_ari"] == 1.0 for run in results["conditions"]["oracle"]["runs"])
    assert results["conditions"]["no_split"]["runs"][0]["final"]["groups_ari"] == pytest.approx(
        adjusted_rand_score(appearance.groups(), appearance.colour))
    table = (tmp_path / "out" / "ablation.md").read_text()
    assert table.count("\n") == 5 and "| no_split |" in table and "n/a" in table and table.strip() in out
    assert (tmp_path / "out" / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Run again: every run is complete, so the figures are read back, not trained again.
    assert _ablation(tmp_path, "--conditions", TRAINED) == 0
    again = json.loads((tmp_path / "out" / "ablation.json").read_text())
    for condition in results["conditions"]:
        assert again["conditions"][condition]["final"] == results["conditions"][condition]["final"]
        assert all(run["seconds"] == 0 for run in again["conditions"][condition]["runs"])


@pytest.mark.slow
def test_an_unsupervised_budget_compares_one_class_splits_and_the_supervised_oracle(tmp_path, capsys):
    budget = dict(TINY_BUDGET, split=dict(TINY_BUDGET["split"], unsupervised=True))
    assert experiments.main(["ablation", "--config", _budget_file(tmp_path, budget), "--seeds", "0", "--eval-every",
                             "2", "--fid-samples", "20", "--conditions", "no_split,split,oracle",
                             "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "ablation.json").read_text())
    finals = {condition: entry["runs"][0]["final"] for condition, entry in results["conditions"].items()}
    assert finals["no_split"]["groups_ari"] == 0.0 and finals["oracle"]["groups_ari"] == 1.0
    assert sources.load(results["conditions"]["split"]["runs"][0]["run_dir"]).source.num_active() == 2
    oracle = sources.load(results["conditions"]["oracle"]["runs"][0]["run_dir"])
    assert not oracle.cfg.split.unsupervised and oracle.source.num_active() == 20


@pytest.mark.slow
def test_an_interrupted_run_is_resumed(tmp_path, capsys):
    budget = ablation.Budget(_budget_file(tmp_path), eval_every=2, fid_samples=20)
    run_dir = str(tmp_path / "split0")
    assert cli_main.main_train(budget.train_argv("split", 0, run_dir) + ["--stop-at", "2"]) == 0
    run = ablation.run_one(budget, "split", 0, run_dir, 4)
    assert "resumed from" in capsys.readouterr().out
    assert [step for step, _ in run["curves"]["colour"]] == [2, 4] and "subclass" in run["final"]


def test_a_run_dir_of_another_configuration_is_refused_not_read(tmp_path):
    budget = ablation.Budget(_budget_file(tmp_path), eval_every=2, fid_samples=20)
    run_dir = str(tmp_path / "split0")
    assert cli_main.main_train(budget.train_argv("no_split", 0, run_dir)) == 0  # complete, but another condition
    with pytest.raises(UserError, match="split.split_at"):
        ablation.run_one(budget, "split", 0, run_dir, 4)


@pytest.mark.parametrize("flags, message", [
    (["--conditions", "split,oracel"], "--conditions must list distinct conditions"),
    (["--ema-decay", "1"], "--ema-decay must lie in (0, 1)"),
    (["--seeds", "1,1"], "--seeds must list distinct seeds"),
])
def test_flags_the_ablation_cannot_use_are_refused_before_training(tmp_path, capsys, flags, message):
    assert _ablation(tmp_path, *flags) == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, message", [
    ({"split": {"split_at": []}}, "needs a split schedule"),
    ({"data": {"builtin_size": 80, "builtin_labels": "colour_and_kind"}}, "labelled by colour (or unsupervised)"),
    ({"train": {"iterations": 5, "batch_size": 4, "n_critic": 2}}, "--eval-every 2 must divide"),
])
def test_a_budget_the_ablation_cannot_use_is_refused_before_training(tmp_path, capsys, change, message):
    budget = dict(TINY_BUDGET, **change)
    status = experiments.main(["ablation", "--config", _budget_file(tmp_path, budget), "--eval-every", "2",
                               "--out", str(tmp_path / "out")])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_each_condition_is_the_budget_with_its_own_changes(tmp_path):
    """Whatever the budget's config says about the moving average, only split_ema has one."""
    averaged_budget = dict(TINY_BUDGET, train=dict(TINY_BUDGET["train"], ema_decay=0.5))
    budget = ablation.Budget(_budget_file(tmp_path, averaged_budget), eval_every=2, ema_decay=0.9)
    resolved = {}
    for condition in ablation.CONDITIONS:
        argv = budget.train_argv(condition, 3, str(tmp_path / condition))
        resolved[condition] = config.resolve(cli_flags.overrides(cli_flags.train_parser().parse_args(argv)))
        # What the ablation runs is what its printed command line runs.
        assert config.resolve(budget.layers(condition, 3, str(tmp_path / condition))) == resolved[condition]
    assert {c: cfg.train.ema_decay for c, cfg in resolved.items()} == {
        "no_split": 0, "split": 0, "oracle": 0, "split_ema": 0.9}
    assert {c: cfg.split.split_at for c, cfg in resolved.items()} == {
        "no_split": (), "split": (1,), "oracle": (), "split_ema": (1,)}
    assert [c for c, cfg in resolved.items() if cfg.data.builtin_labels == "colour_and_kind"] == ["oracle"]
    assert all(cfg.train.seed == 3 and cfg.eval.every == 2 for cfg in resolved.values())
