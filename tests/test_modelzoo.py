"""The ModelZoo-style scripts (modelzoo/test/train_*.sh): the card's arguments, the run on the NPU (here the
double), and the summary the cards compare."""
import os
import subprocess
import sys

import pytest

from conftest import NPU_DOUBLE, ROOT, write_cifar_batches, write_rank_table

TINY_CIFAR = ["--width", "8", "--batch-size", "4", "--n-critic", "2", "--iterations", "4", "--log-every", "1",
              "--split-at", ""]


def _run(script, tmp_path, *args, **env_vars):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=NPU_DOUBLE, NPU_DOUBLE_LOG=str(tmp_path / "npu.log"),
               OUTPUT_DIR=str(tmp_path / "output"), **env_vars)
    return subprocess.run(["bash", os.path.join(ROOT, "modelzoo", "test", script)] + [str(a) for a in args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _summary(path):
    return dict(line.split(" = ", 1) for line in path.read_text().splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("script, case, extra", [
    ("train_performance_1p.sh", "ClassSplittingGAN_for_TensorFlow2_bs4_1p_perf", {}),
    ("train_full_8p.sh", "ClassSplittingGAN_for_TensorFlow2_bs4_2p_acc", {"RANK_SIZE": "2"}),
])
def test_the_modelzoo_scripts_train_and_summarise_as_the_cards_do(tmp_path, script, case, extra):
    write_cifar_batches(tmp_path / "dataset" / "cifar-10-batches-py")
    if extra:
        extra = dict(extra, RANK_TABLE_FILE=str(write_rank_table(tmp_path / "hccl.json")))
    stale = tmp_path / "output" / "0" / "from_the_last_run.log"
    stale.parent.mkdir(parents=True)
    stale.write_text("an earlier run's")
    (tmp_path / "ops_info.json").write_text('{"black-list": {"to-add": []}}')
    card = ["--over_dump=False", "--data_dump_flag=False", "--profiling=False", "--use_mixlist=True",
            "--mixlist_file=%s" % (tmp_path / "ops_info.json"), "--fusion_off_flag=False", "--auto_tune=False",
            "--bind_core=True"]
    result = _run(script, tmp_path, "--data_path=dataset", *card, *TINY_CIFAR, **extra)  # relative to where it is run
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Final Performance images/sec : " in result.stdout and "note: --bind_core is ignored" in result.stdout
    output = tmp_path / "output" / "0"
    assert not stale.exists()  # as the cards: each run starts from an empty output/<id>
    summary = _summary(output / (case + ".log"))
    ranks = int(extra.get("RANK_SIZE", 1))
    assert summary["CaseName"] == case and summary["RankSize"] == str(ranks) and summary["BatchSize"] == "4"
    assert float(summary["ActualFPS"]) > 0 and float(summary["TrainingTime"]) > 0
    assert float(summary["ActualLoss"]) != 0 and int(summary["E2ETrainingTime"]) >= 0
    assert ("TrainAccuracy" in summary) == ("full" in script)
    losses = (output / ("train_%s_loss.txt" % case)).read_text().split()
    assert len(losses) == 4 and float(losses[-1]) == float(summary["ActualLoss"])  # --log-every 1, 4 iterations
    for rank in range(ranks):  # each rank's log where the cards put it
        assert "done: 4 iterations" in (tmp_path / "output" / str(rank) / ("train_%d.log" % rank)).read_text()
    events = [line for line in (tmp_path / "npu.log").read_text().splitlines() if "modify_mixlist" in line]
    assert events, "--use_mixlist=True --mixlist_file reaches the adapter's modify_mixlist"


@pytest.mark.parametrize("args, status, message", [
    ([], 1, '[Error] para "data_path" must be config'),
    (["--help"], 1, "usage: bash test/train_full_1p.sh --data_path=DIR"),
    (["--data_path=x", "--over_dump=yes"], 2, "error: --over_dump takes True or False, got 'yes'"),
])
def test_the_modelzoo_scripts_refuse_as_the_cards_do(tmp_path, args, status, message):
    result = _run("train_full_1p.sh", tmp_path, *args)
    assert result.returncode == status and message in result.stdout + result.stderr
