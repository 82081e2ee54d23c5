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
    ("train_performance_1p.sh", "ClassSplittingGAN_for_TensorFlow2_1p_perf", {}),
    ("train_full_8p.sh", "ClassSplittingGAN_for_TensorFlow2_8p_acc", {"RANK_SIZE": "2"}),
])
def test_the_modelzoo_scripts_train_and_summarise(tmp_path, script, case, extra):
    write_cifar_batches(tmp_path / "dataset" / "cifar-10-batches-py")
    if extra:
        extra = dict(extra, RANK_TABLE_FILE=str(write_rank_table(tmp_path / "hccl.json")))
    result = _run(script, tmp_path, "--data_path=dataset", *TINY_CIFAR, **extra)  # relative to where it is run
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Final Performance images/sec : " in result.stdout
    summary = _summary(tmp_path / "output" / "0" / (case + ".log"))
    assert summary["CaseName"] == case and summary["RankSize"] == script.split("_")[-1][0]
    assert float(summary["ActualFPS"]) > 0 and float(summary["TrainingTime"]) > 0
    assert float(summary["ActualLoss"]) != 0 and int(summary["E2ETrainingTime"]) >= 0


def test_the_modelzoo_scripts_need_the_data_path(tmp_path):
    result = _run("train_full_1p.sh", tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: --data_path=DIR is required")
