"""Long evaluations: samples drawn and scored in chunks (the same samples as drawn at once), a metric that cannot fit
in memory refused before it starts, progress lines, and each figure printed and written as it completes, so that a
signal between two metrics keeps the figures done."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from stand_in_sources import ImagesSource
from splitgan_keras import metric_names
from splitgan_keras.artefacts import sampling
from splitgan_keras.cli import main as cli_main
from splitgan_keras.data import builtin_data
from splitgan_keras.errors import UserError
from splitgan_keras.evaluate.metrics import memory, registry


class _BatchStatistics(sampling.SampleSource):
    """Images that depend on their batch as a whole (as batch norm makes them): a change of batching shows."""
    image_size = 4

    def num_active(self):
        return 7

    def generate(self, noise, labels):
        value = (noise - noise.mean(0)).sum(1) * 10 + labels
        return np.broadcast_to(np.clip(value, 0, 255).astype(np.uint8)[:, None, None, None], (len(labels), 4, 4, 3))


@pytest.mark.parametrize("chunk", [1, 150, 1000])
def test_samples_drawn_in_chunks_are_the_samples_drawn_at_once(chunk):
    source = _BatchStatistics()
    whole, _ = sampling.uniform_samples(source, 537, 3)
    parts = np.zeros_like(whole)
    for positions, images in sampling.uniform_chunks(source, 537, 3, chunk):
        assert len(images) <= max(chunk, sampling.SAMPLE_BATCH)
        parts[positions] = images
    np.testing.assert_array_equal(parts, whole)
    per_class = np.zeros((7 * 37, 4, 4, 3), np.uint8)
    for positions, images in sampling.per_class_chunks(source, 37, 3, chunk):
        per_class[positions] = images
    np.testing.assert_array_equal(per_class, sampling.per_class_samples(source, 37, 3))


class _NeverSampled(ImagesSource):
    def generate(self, noise, labels):
        raise AssertionError("sampled before the memory was checked")


def test_a_metric_past_the_memory_is_refused_before_sampling_with_the_count_that_fits(inception_dir, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 2 ** 30)
    evaluator = registry.Evaluator(inception_dir)
    with pytest.raises(UserError) as refused:
        evaluator.report(["is10000k"], _NeverSampled(np.zeros((4, 8, 8, 3), np.uint8)))
    fits = 8 * 2 ** 30 // (memory.WORKING_COPIES * 4 * (1008 + 2048))
    assert str(refused.value) == (
        "is10000000 keeps 12224 bytes of Inception outputs per sample, for 10000000 samples: the evaluation needs "
        "227.7 GiB with working copies, and this process can take 8.0 GiB; use is%d (or fewer samples)" % fits)
    assert evaluator.report(["is100"], ImagesSource(np.zeros((4, 8, 8, 3), np.uint8))).values["is100"] > 0
    # A per-class metric draws its N for every class.
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 ** 27)
    with pytest.raises(UserError, match=r"^ifid100_train keeps 12224 bytes of Inception outputs per sample, for 10000 "
                                        r"samples \(100 classes\): .* 128 MiB; use ifid54_train \(or fewer samples\)$"):
        registry.Evaluator(inception_dir, builtin_data.make(40, 8), example_classes=lambda: (
            np.zeros(40, np.int64), np.full(100, -1))).report(
            ["ifid100_train"], _NeverSampled(np.zeros((4, 8, 8, 3), np.uint8), classes=100))


def test_the_memory_a_process_may_take_follows_its_address_space_limit():
    code = ("import resource; from splitgan_keras.evaluate.metrics import memory\n"
            "held = memory._proc_kib('/proc/self/status', 'VmSize')\n"
            "resource.setrlimit(resource.RLIMIT_AS, (held + 2 ** 30, resource.RLIM_INFINITY))\n"
            "print(memory.available_bytes())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) <= 2 ** 30


def test_long_passes_print_progress_lines(capsys, tmp_path):
    data = builtin_data.make(2000, 8)
    evaluator = registry.Evaluator(data=data, cache_dir=str(tmp_path), progress=True)
    evaluator.report(["builtin_fid2000_train"], ImagesSource(data.images))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("drawing and scoring")]
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["50%", "100%"]  # chunks of 1000
    assert lines[0].startswith("drawing and scoring 2000 samples for builtin_fid2000_train: 50% (1000), ")


def _interrupting(evaluator, metric, drawn, tables):
    """A metric that is stopped by SIGTERM while it computes (train.py and eval.py make SIGTERM Ctrl-C)."""
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("the signal did not stop the metric")


INTERRUPTED = metric_names.MetricKind("stopped", "", "a metric stopped by a signal", (),
                                      "test_evaluation_progress:_interrupting", least=1, usual=10)


def test_a_signal_between_two_metrics_keeps_the_figures_done(run_export, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(metric_names, "KINDS", metric_names.KINDS + (INTERRUPTED,))
    figures = tmp_path / "figures.json"
    previous = signal.getsignal(signal.SIGTERM)
    cli_main.sigterm_as_ctrl_c()
    try:
        status = cli_main.main_eval([run_export, "--dataset", "builtin", "--metrics",
                                     "builtin_fid20_train,stopped10", "--json", str(figures)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    out, err = capsys.readouterr()
    assert status == 3
    assert out.splitlines()[-1].startswith("builtin_fid20_train ")  # printed as it completed
    assert "stopped by a signal after 1 of 2 metrics: %s holds builtin_fid20_train" % figures in err
    written = json.loads(figures.read_text())
    assert written["complete"] is False and written["pending"] == ["stopped10"]
    assert set(written["metrics"]) == {"builtin_fid20_train"} and set(written["protocols"]) == {"builtin_fid20_train"}


@pytest.fixture(scope="module")
def run_export(tmp_path_factory):
    """An exported generator of a tiny run."""
    import contextlib
    import io
    from conftest import TINY
    path = tmp_path_factory.mktemp("progress") / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main.main_train([str(a) for a in TINY + ["--run-dir", path, "--iterations", 2]]) == 0
    return str(path / "export")


def test_the_json_is_complete_once_every_metric_is_done(run_export, tmp_path, capsys):
    figures = tmp_path / "figures.json"
    assert cli_main.main_eval([run_export, "--dataset", "builtin", "--metrics",
                               "builtin_fid20_train,builtin_fid30_train", "--json", str(figures)]) == 0
    written = json.loads(figures.read_text())
    assert written["complete"] is True and written["pending"] == []
    assert {"builtin_fid20_train", "builtin_fid30_train"} == set(written["metrics"])
    out = capsys.readouterr().out.splitlines()
    assert out[-3].startswith("builtin_fid20_train ") and out[-2].startswith("builtin_fid30_train ")
    assert out[-1].startswith("builtin_fid20_train ") and "builtin_fid30_train" in out[-1]  # then all in one line
